// SPDX-License-Identifier: LGPL-2.1-or-later
#include "uki_in_place.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "elf_container.h"
#include "zboot.h"

namespace kexecd {

namespace {

/* Enough for the headers of every UKI seen (systemd's stub: 1 KiB);
 * one whose headers are larger is read whole instead. */
constexpr uint64_t kHeadBytes = 64u << 10;
/* Copy steps: the hashers follow each step while it is in the cache. */
constexpr uint64_t kCopyStep = 8u << 20;

bool isPayloadSection(std::string_view name)
{
	return name == ".linux" || name == ".initrd" || name == ".ucode";
}

} // namespace

UkiInPlace::UkiInPlace(int fd, std::string origin, uint64_t size)
	: fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), origin_(std::move(origin)), size_(size)
{
}

UkiInPlace::~UkiInPlace()
{
	progress_.fail();
	hashers_.reset();
}

FileView UkiInPlace::view() const
{
	return FileView{ memfd_.bytes().subspan(base_, size_), redirects_ };
}

void UkiInPlace::startHashers(FileView view)
{
	hashers_ = std::make_unique<FileHashers>(std::move(view), authenticodeRanges_, progress_);
}

std::string UkiInPlace::sha256Hex()
{
	return hashers_ ? hashers_->sha256Hex() : std::string();
}

void UkiInPlace::lendAuthenticode(PeFile &pe) const
{
	if (hashers_)
		hashers_->lendAuthenticode(pe);
}

Result<void> UkiInPlace::copyAll(std::vector<Copy> copies)
{
	std::sort(copies.begin(), copies.end(),
		  [](const Copy &a, const Copy &b) { return a.from.offset < b.from.offset; });
	CopyGuard guard(progress_);
	for (size_t i = 0; i < copies.size(); i++) {
		const Copy &c = copies[i];
		for (uint64_t done = 0; done < c.from.size;) {
			const uint64_t step = std::min(kCopyStep, c.from.size - done);
			KEXECD_TRY(c.to->copyIn(fd_.get(), c.from.offset + done, c.at + done, step, origin_));
			done += step;
			/* Everything before this piece is in place: earlier copies,
			 * and the skeleton's bytes between them. */
			progress_.advance(done < c.from.size ? c.from.offset + done
				  : i + 1 < copies.size() ? copies[i + 1].from.offset : size_);
		}
	}
	progress_.advance(size_);
	guard.done();
	return {};
}

Result<std::unique_ptr<UkiInPlace>> UkiInPlace::intoContainer(int fd, const std::string &origin, uint64_t size,
							    uint64_t capacity, const PeLimits &limits)
{
	std::unique_ptr<UkiInPlace> u(new UkiInPlace(fd, origin, size));
	if (!u->fd_.valid())
		return makeError(Code::Io, fmt::format("'{}': {}", origin, std::strerror(errno)), errno);
	auto memfd = SealedMemfd::create("image-container", kContainerDataOffset + size,
					 std::max(capacity, kContainerDataOffset + size));
	if (!memfd)
		return memfd.takeError();
	u->memfd_ = std::move(*memfd);
	u->base_ = kContainerDataOffset;

	/* The headers first: their Authenticode ranges let the hasher start
	 * while the rest is still being copied. */
	const uint64_t head = std::min(size, kHeadBytes);
	KEXECD_TRY(u->memfd_.copyIn(u->fd_.get(), 0, u->base_, head, origin));
	u->progress_.advance(head);
	if (auto pe = PeFile::parse(u->view(), origin, limits); pe && pe->sizeOfHeaders() <= head)
		if (auto ranges = authenticodeRanges(*pe))
			u->authenticodeRanges_ = std::move(*ranges);
	u->startHashers(u->view());
	if (size > head)
		KEXECD_TRY(u->copyAll({ Copy{ { head, size - head }, &u->memfd_, u->base_ + head } }));
	else
		u->progress_.advance(size);
	return u;
}

Result<void> UkiInPlace::finishContainer(std::span<const ElfSection> sections)
{
	const ElfContainerLayout layout = layoutElfContainer(sections);
	if (layout.data.empty() || layout.data[0].data() != memfd_.bytes().data() + base_ ||
	    layout.data[0].size() != size_)
		return makeError(Code::Internal, "the image container's first section is not the UKI read in place");
	uint64_t total = layout.head.size() + layout.tail.size();
	for (auto piece : layout.data)
		total += piece.size();
	/* The room was reserved from the addons' sizes before they were
	 * read: only a file that grew meanwhile can need more. */
	if (total > memfd_.capacity())
		return makeError(Code::InvalidImage,
				 fmt::format("an addon of '{}' grew while it was read: the image container needs {} "
					     "bytes, {} were reserved", origin_, total, memfd_.capacity()));
	KEXECD_TRY(memfd_.resize(total));
	KEXECD_TRY(memfd_.writeAt(0, layout.head));
	uint64_t at = layout.head.size() + size_;
	for (size_t i = 1; i < layout.data.size(); i++) {
		KEXECD_TRY(memfd_.writeAt(at, layout.data[i]));
		at += layout.data[i].size();
	}
	KEXECD_TRY(memfd_.writeAt(at, layout.tail));
	return seal();
}

Result<std::unique_ptr<UkiInPlace>> UkiInPlace::skeleton(int fd, const std::string &origin, uint64_t size,
							 const PeLimits &limits)
{
	std::unique_ptr<UkiInPlace> u(new UkiInPlace(fd, origin, size));
	if (!u->fd_.valid())
		return makeError(Code::Io, fmt::format("'{}': {}", origin, std::strerror(errno)), errno);
	auto memfd = SealedMemfd::create(origin, size);
	if (!memfd)
		return memfd.takeError();
	u->memfd_ = std::move(*memfd);

	const uint64_t head = std::min(size, kHeadBytes);
	KEXECD_TRY(u->memfd_.copyIn(u->fd_.get(), 0, 0, head, origin));
	if (auto pe = PeFile::parse(u->view(), origin, limits); pe && pe->sizeOfHeaders() <= head) {
		if (auto ranges = authenticodeRanges(*pe))
			u->authenticodeRanges_ = std::move(*ranges);
		/* The certificate table is parsed from the skeleton: never a hole. */
		uint64_t certFrom = 0, certTo = 0;
		if (auto dir = pe->dataDirectory(PeFile::kCertificateTable); dir && dir->size) {
			certFrom = dir->virtualAddress;
			certTo = certFrom + dir->size;
		}
		for (const PeSection &s : pe->sections()) {
			const uint64_t from = s.pointerToRawData, to = from + s.data.size();
			if (isPayloadSection(s.name) && !s.data.empty() && (to <= certFrom || from >= certTo))
				u->deferred_.push_back({ from, s.data.size() });
		}
		std::sort(u->deferred_.begin(), u->deferred_.end(),
			  [](const ByteRange &a, const ByteRange &b) { return a.offset < b.offset; });
	}
	/* Everything else now, in file order. */
	uint64_t at = head;
	auto fill = [&](uint64_t to) -> Result<void> {
		if (to > at)
			KEXECD_TRY(u->memfd_.copyIn(u->fd_.get(), at, at, to - at, origin));
		return {};
	};
	for (const ByteRange &r : u->deferred_) {
		KEXECD_TRY(fill(r.offset));
		at = std::max(at, r.offset + r.size);
	}
	KEXECD_TRY(fill(size));
	u->progress_.advance(u->deferred_.empty() ? size : u->deferred_.front().offset);
	if (u->deferred_.empty()) {
		KEXECD_TRY(u->seal());
		u->startHashers(u->view());
	}
	return u;
}

const ByteRange *UkiInPlace::deferredAt(std::span<const uint8_t> bytes) const
{
	for (const ByteRange &r : deferred_)
		if (bytes.data() == memfd_.bytes().data() + r.offset && bytes.size() == r.size)
			return &r;
	return nullptr;
}

Result<void> UkiInPlace::placeClassic(const SectionSet &resolved, const InitrdComposition &initrd)
{
	if (deferred_.empty() || hashers_)
		return {}; // read whole in the first step
	std::vector<Copy> copies;
	std::vector<const ByteRange *> placed;

	if (auto it = resolved.find(".linux"); it != resolved.end())
		if (const ByteRange *r = deferredAt(it->second)) {
			/* A zboot kernel is unpacked from the section: it stays in
			 * the skeleton. Only the header is peeked here; what is
			 * loaded is decided again from the copy. */
			uint8_t head[0x40] = {};
			const bool zboot = ::pread(fd_.get(), head, sizeof(head), static_cast<off_t>(r->offset)) ==
						   static_cast<ssize_t>(sizeof(head)) &&
					   probeZboot(head).has_value();
			if (!zboot) {
				auto memfd = SealedMemfd::create("kernel", r->size);
				if (!memfd)
					return memfd.takeError();
				kernel_ = std::move(*memfd);
				copies.push_back({ *r, &*kernel_, 0 });
				placed.push_back(r);
			}
		}

	if (!initrd.parts().empty()) {
		auto memfd = SealedMemfd::create("initrd", initrd.paddedSize());
		if (!memfd)
			return memfd.takeError();
		initrd_ = std::move(*memfd);
		/* Offsets as InitrdComposition::padded() lays the parts out;
		 * the padding stays a hole, which reads as zeros. */
		const std::vector<uint64_t> offsets = initrd.offsets();
		for (size_t i = 0; i < initrd.parts().size(); i++) {
			const InitrdPart &p = initrd.parts()[i];
			const uint64_t at = offsets[i];
			const ByteRange *r = deferredAt(p.data);
			if (r && std::find(placed.begin(), placed.end(), r) != placed.end())
				return makeError(Code::Internal, "one section twice in the initrd");
			if (r) {
				copies.push_back({ *r, &*initrd_, at });
				placed.push_back(r);
			} else {
				KEXECD_TRY(initrd_->writeAt(at, p.data));
			}
		}
	}

	/* Payloads nobody loads (other profiles') fill the skeleton's holes:
	 * they are signed and hashed like the rest. */
	FileView v{ memfd_.bytes(), {} };
	for (const ByteRange &r : deferred_) {
		if (std::find(placed.begin(), placed.end(), &r) == placed.end()) {
			copies.push_back({ r, &memfd_, r.offset });
			continue;
		}
		for (const Copy &c : copies)
			if (c.from.offset == r.offset)
				v.redirects.push_back({ r.offset, c.to->bytes().subspan(c.at, r.size) });
	}
	std::sort(v.redirects.begin(), v.redirects.end(),
		  [](const FileView::Redirect &a, const FileView::Redirect &b) { return a.offset < b.offset; });
	redirects_ = v.redirects;
	startHashers(v);
	return copyAll(std::move(copies));
}

Result<void> UkiInPlace::seal()
{
	if (hashers_)
		hashers_->wait();
	KEXECD_TRY(memfd_.seal());
	if (kernel_)
		KEXECD_TRY(kernel_->seal());
	if (initrd_)
		KEXECD_TRY(initrd_->seal());
	return {};
}

} // namespace kexecd
