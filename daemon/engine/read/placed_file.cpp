// SPDX-License-Identifier: LGPL-2.1-or-later
#include "placed_file.h"

#include <fcntl.h>
#include <sys/stat.h>
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

/* The PE whose headers are all in the first head bytes of view; nullopt
 * otherwise (its digests are then computed after the copy). */
std::optional<PeFile> headersIn(const FileView &view, uint64_t head, const std::string &origin,
				const PeLimits &limits)
{
	auto pe = PeFile::parse(view, origin, limits);
	if (!pe || pe->sizeOfHeaders() > head)
		return std::nullopt;
	return std::move(*pe);
}

std::optional<std::vector<ByteRange>> rangesOf(const std::optional<PeFile> &pe)
{
	if (!pe)
		return std::nullopt;
	auto ranges = authenticodeRanges(*pe);
	if (!ranges)
		return std::nullopt;
	return std::move(*ranges);
}

} // namespace

PlacedFile::PlacedFile(int fd, std::string origin, uint64_t size, Kind kind)
	: fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), origin_(std::move(origin)), size_(size), kind_(kind)
{
}

Result<std::unique_ptr<PlacedFile>> PlacedFile::make(int fd, const std::string &origin, uint64_t size, Kind kind)
{
	std::unique_ptr<PlacedFile> u(new PlacedFile(fd, origin, size, kind));
	if (!u->fd_.valid())
		return makeError(Code::Io, fmt::format("'{}': {}", origin, std::strerror(errno)), errno);
	return u;
}

std::optional<uint64_t> PlacedFile::placeableSize(int fd, uint64_t limit)
{
	struct stat st;
	if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    static_cast<uint64_t>(st.st_size) > limit)
		return std::nullopt;
	return static_cast<uint64_t>(st.st_size);
}

PlacedFile::~PlacedFile()
{
	progress_.fail();
	kernelProgress_.fail();
	hashers_.reset();
	kernelHashers_.reset();
}

FileView PlacedFile::view() const
{
	return FileView{ memfd_->bytes().subspan(base_, size_), redirects_ };
}

void PlacedFile::startHashers(FileView view)
{
	hashers_ = std::make_unique<FileHashers>(std::move(view), authenticodeRanges_, progress_);
}

std::string PlacedFile::sha256Hex()
{
	return hashers_ ? hashers_->sha256Hex() : std::string();
}

void PlacedFile::lendAuthenticode(PeFile &pe) const
{
	if (hashers_)
		hashers_->lendAuthenticode(pe);
}

Result<void> PlacedFile::copyAll(std::vector<Copy> copies)
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
			if (c.toProgress)
				c.toProgress->advance(c.at + done);
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

Result<void> PlacedFile::copyPe(const PeLimits &limits)
{
	/* The headers first: their Authenticode ranges let the hasher start
	 * while the rest is still being copied. */
	const uint64_t head = std::min(size_, kHeadBytes);
	KEXECD_TRY(memfd_->copyIn(fd_.get(), 0, base_, head, origin_));
	progress_.advance(head);
	authenticodeRanges_ = rangesOf(headersIn(view(), head, origin_, limits));
	startHashers(view());
	if (size_ > head)
		return copyAll({ Copy{ { head, size_ - head }, memfd_, base_ + head } });
	progress_.advance(size_);
	return {};
}

Result<std::unique_ptr<PlacedFile>> PlacedFile::intoContainer(int fd, const std::string &origin, uint64_t size,
							     uint64_t capacity, const PeLimits &limits)
{
	auto made = make(fd, origin, size, Kind::Container);
	if (!made)
		return made.takeError();
	std::unique_ptr<PlacedFile> u = std::move(*made);
	auto memfd = SealedMemfd::create("image-container", kContainerDataOffset + size,
					 std::max(capacity, kContainerDataOffset + size));
	if (!memfd)
		return memfd.takeError();
	u->own_ = std::move(*memfd);
	u->base_ = kContainerDataOffset;
	u->containerEnd_ = kContainerDataOffset + size;
	KEXECD_TRY(u->copyPe(limits));
	return u;
}

Result<std::unique_ptr<PlacedFile>> PlacedFile::besideInContainer(PlacedFile &host, int fd,
								   const std::string &origin, const PeLimits &limits)
{
	const auto size = placeableSize(fd, limits.maxFileSize);
	const uint64_t at = host.containerEnd_;
	if (!host.isContainer() || !size || at + *size > host.own_.capacity())
		return std::unique_ptr<PlacedFile>();
	auto made = make(fd, origin, *size, Kind::Guest);
	if (!made)
		return made.takeError();
	std::unique_ptr<PlacedFile> u = std::move(*made);
	u->memfd_ = &host.own_;
	u->base_ = at;
	/* A guest dropped before this one leaves its bytes past the end:
	 * they are overwritten or cut off. */
	KEXECD_TRY(host.own_.resize(at + *size));
	KEXECD_TRY(u->copyPe(limits));
	return u;
}

Result<std::unique_ptr<PlacedFile>> PlacedFile::intoMemfd(SealedMemfd &target, uint64_t at, int fd,
							  const std::string &origin, uint64_t size)
{
	auto made = make(fd, origin, size, Kind::Guest);
	if (!made)
		return made.takeError();
	std::unique_ptr<PlacedFile> u = std::move(*made);
	u->memfd_ = &target;
	u->base_ = at;
	u->startHashers(u->view());
	KEXECD_TRY(u->copyAll({ Copy{ { 0, size }, &target, at } }));
	return u;
}

Result<bool> PlacedFile::finishContainer(std::span<const ElfSection> sections)
{
	const ElfContainerLayout layout = layoutElfContainer(sections);
	const uint8_t *const base = own_.bytes().data();
	if (layout.data.empty() || layout.data[0].data() != base + base_ || layout.data[0].size() != size_)
		return makeError(Code::Internal, "the image container's first section is not the UKI read in place");
	uint64_t total = layout.head.size() + layout.tail.size();
	for (auto piece : layout.data)
		total += piece.size();
	/* Pieces in the container already must be where the layout puts
	 * them; the others (.ima, addons read whole) are written. */
	std::vector<bool> inPlace;
	uint64_t at = layout.head.size();
	for (auto piece : layout.data) {
		const bool inside = piece.data() >= base && piece.data() < base + own_.capacity();
		if (inside && piece.data() != base + at)
			return false;
		inPlace.push_back(inside);
		at += piece.size();
	}
	/* The room was reserved from the addons' sizes before they were
	 * read; one read whole, not being a regular file, may need more. */
	if (total > own_.capacity())
		return false;
	KEXECD_TRY(own_.resize(total));
	KEXECD_TRY(own_.writeAt(0, layout.head));
	at = layout.head.size();
	for (size_t i = 0; i < layout.data.size(); i++) {
		if (!inPlace[i])
			KEXECD_TRY(own_.writeAt(at, layout.data[i]));
		at += layout.data[i].size();
	}
	KEXECD_TRY(own_.writeAt(at, layout.tail));
	KEXECD_TRY(seal());
	return true;
}

Result<std::unique_ptr<PlacedFile>> PlacedFile::skeleton(int fd, const std::string &origin, uint64_t size,
							 const PeLimits &limits)
{
	auto made = make(fd, origin, size, Kind::Skeleton);
	if (!made)
		return made.takeError();
	std::unique_ptr<PlacedFile> u = std::move(*made);
	auto memfd = SealedMemfd::create(origin, size);
	if (!memfd)
		return memfd.takeError();
	u->own_ = std::move(*memfd);

	const uint64_t head = std::min(size, kHeadBytes);
	KEXECD_TRY(u->own_.copyIn(u->fd_.get(), 0, 0, head, origin));
	if (const auto pe = headersIn(u->view(), head, origin, limits)) {
		u->authenticodeRanges_ = rangesOf(pe);
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
			KEXECD_TRY(u->own_.copyIn(u->fd_.get(), at, at, to - at, origin));
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

const ByteRange *PlacedFile::deferredAt(std::span<const uint8_t> bytes) const
{
	for (const ByteRange &r : deferred_)
		if (bytes.data() == memfd_->bytes().data() + base_ + r.offset && bytes.size() == r.size)
			return &r;
	return nullptr;
}

Result<void> PlacedFile::placeClassic(const SectionSet &resolved, const InitrdComposition &initrd,
				      std::span<PlacedFile *const> guests)
{
	const bool any = needsPlacing() ||
			 std::any_of(guests.begin(), guests.end(), [](const PlacedFile *g) { return g->needsPlacing(); });
	if (!any)
		return {}; // all read whole in the first step
	std::vector<Copy> copies;
	std::vector<std::vector<Copy>> guestCopies(guests.size());

	if (auto it = resolved.find(".linux"); needsPlacing() && it != resolved.end())
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
				KEXECD_TRY(placeKernelHead(*r, copies));
			}
		}

	if (!initrd.parts().empty()) {
		auto memfd = SealedMemfd::create("initrd", initrd.paddedSize());
		if (!memfd)
			return memfd.takeError();
		initrd_ = std::move(*memfd);
		/* Offsets as InitrdComposition::padded() lays the parts out;
		 * the padding stays a hole, which reads as zeros. Each part is
		 * copied by the file it is in, a generated one written. */
		const std::vector<uint64_t> offsets = initrd.offsets();
		for (size_t i = 0; i < initrd.parts().size(); i++) {
			const InitrdPart &p = initrd.parts()[i];
			std::vector<Copy> *owner = nullptr;
			const ByteRange *r = needsPlacing() ? deferredAt(p.data) : nullptr;
			if (r)
				owner = &copies;
			for (size_t g = 0; !r && g < guests.size(); g++)
				if (guests[g]->needsPlacing() && (r = guests[g]->deferredAt(p.data)))
					owner = &guestCopies[g];
			if (r && std::any_of(owner->begin(), owner->end(),
					     [r](const Copy &c) { return c.from.offset == r->offset; }))
				return makeError(Code::Internal, "one section twice in the initrd");
			if (r)
				owner->push_back({ *r, &*initrd_, offsets[i] });
			else
				KEXECD_TRY(initrd_->writeAt(offsets[i], p.data));
		}
	}

	if (needsPlacing())
		KEXECD_TRY(placeOwn(std::move(copies)));
	for (size_t g = 0; g < guests.size(); g++)
		if (guests[g]->needsPlacing())
			KEXECD_TRY(guests[g]->placeOwn(std::move(guestCopies[g])));
	return {};
}

Result<void> PlacedFile::placeKernelHead(const ByteRange &r, std::vector<Copy> &copies)
{
	/* The kernel's own headers first, into the kernel memfd: the kernel
	 * verdict's Authenticode ranges are known then, and a third hasher
	 * follows the rest of the copy, as the UKI's two do. */
	const uint64_t head = std::min(r.size, kHeadBytes);
	KEXECD_TRY(kernel_->copyIn(fd_.get(), r.offset, 0, head, origin_));
	kernelProgress_.advance(head);
	const FileView kernel{ kernel_->bytes(), {} };
	kernelHashers_ = std::make_unique<FileHashers>(
		kernel, rangesOf(headersIn(kernel, head, origin_ + ":.linux", PeLimits{})), kernelProgress_);
	/* The UKI's hashers read the head through the redirect: it is in
	 * place before copyAll() reports anything past it. */
	if (r.size > head)
		copies.push_back({ { r.offset + head, r.size - head }, &*kernel_, head, &kernelProgress_ });
	else
		kernelProgress_.advance(r.size);
	return {};
}

Result<void> PlacedFile::placeOwn(std::vector<Copy> copies)
{
	/* Payloads nobody loads (other profiles') fill the skeleton's holes:
	 * they are signed and hashed like the rest. */
	std::vector<FileView::Redirect> redirects;
	const size_t placed = copies.size();
	for (const ByteRange &r : deferred_) {
		/* A copy may start past the payload's head, placed already. */
		auto c = std::find_if(copies.begin(), copies.begin() + static_cast<std::ptrdiff_t>(placed),
				      [&r](const Copy &c) {
					      return c.from.offset >= r.offset && c.from.offset < r.offset + r.size;
				      });
		if (c == copies.begin() + static_cast<std::ptrdiff_t>(placed))
			copies.push_back({ r, &own_, r.offset });
		else
			redirects.push_back({ r.offset, c->to->bytes().subspan(c->at - (c->from.offset - r.offset),
									       r.size) });
	}
	std::sort(redirects.begin(), redirects.end(),
		  [](const FileView::Redirect &a, const FileView::Redirect &b) { return a.offset < b.offset; });
	redirects_ = std::move(redirects);
	startHashers(view());
	return copyAll(std::move(copies));
}

Result<void> PlacedFile::seal()
{
	if (hashers_)
		hashers_->wait();
	if (kernelHashers_)
		kernelHashers_->wait();
	if (memfd_ == &own_)
		KEXECD_TRY(own_.seal());
	if (kernel_)
		KEXECD_TRY(kernel_->seal());
	if (initrd_)
		KEXECD_TRY(initrd_->seal());
	return {};
}

} // namespace kexecd
