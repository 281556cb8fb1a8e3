// SPDX-License-Identifier: LGPL-2.1-or-later
#include "memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace kexecd {

namespace {

/* The copies' fallback when the kernel cannot copy for them: one read of
 * at most want bytes through a 1 MiB buffer, at *off (then advanced) or,
 * without one (pipes), at the file position. EINTR is the caller's. */
ssize_t readChunk(int fd, std::vector<uint8_t> &buffer, uint64_t want, off_t *off)
{
	buffer.resize(1 << 20);
	const size_t n = static_cast<size_t>(std::min<uint64_t>(want, buffer.size()));
	const ssize_t got = off ? ::pread(fd, buffer.data(), n, *off) : ::read(fd, buffer.data(), n);
	if (got > 0 && off)
		*off += got;
	return got;
}

constexpr unsigned kAllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

Result<UniqueFd> createMemfd(std::string_view name)
{
	/* memfd names are limited to 249 bytes and only used for debugging. */
	std::string shortName = fmt::format("kexecd:{}", name.substr(0, 200));
	int fd = ::memfd_create(shortName.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return makeError(Code::Io, fmt::format("memfd_create: {}", std::strerror(errno)), errno);
	return UniqueFd(fd);
}

Result<void> writeAll(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t n = ::write(fd, data, size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return makeError(Code::Io, fmt::format("writing memfd: {}", std::strerror(errno)), errno);
		}
		data += n;
		size -= static_cast<size_t>(n);
	}
	return {};
}

} // namespace

SealedMemfd::SealedMemfd(UniqueFd fd, uint64_t size, std::string name)
	: fd_(std::move(fd)), size_(size), name_(std::move(name))
{
}

SealedMemfd::SealedMemfd(SealedMemfd &&other) noexcept
	: fd_(std::move(other.fd_)), size_(std::exchange(other.size_, 0)),
	  name_(std::move(other.name_)), map_(std::exchange(other.map_, nullptr)),
	  mapLength_(std::exchange(other.mapLength_, 0)), sealed_(std::exchange(other.sealed_, false))
{
}

SealedMemfd &SealedMemfd::operator=(SealedMemfd &&other) noexcept
{
	if (this != &other) {
		unmap();
		fd_ = std::move(other.fd_);
		size_ = std::exchange(other.size_, 0);
		name_ = std::move(other.name_);
		map_ = std::exchange(other.map_, nullptr);
		mapLength_ = std::exchange(other.mapLength_, 0);
		sealed_ = std::exchange(other.sealed_, false);
	}
	return *this;
}

SealedMemfd::~SealedMemfd()
{
	unmap();
}

void SealedMemfd::unmap()
{
	if (map_ && mapLength_ > 0)
		::munmap(map_, mapLength_);
	map_ = nullptr;
	mapLength_ = 0;
}

Result<void> SealedMemfd::map(uint64_t length)
{
	if (length == 0)
		return {};
	/* Read-only, no copy. Before sealing it must be private: a shared
	 * mapping of a writable fd counts as writable (VM_MAYWRITE) and makes
	 * F_SEAL_WRITE fail with EBUSY. Nothing ever writes through it, so a
	 * private mapping sees every later write() to the file. */
	void *p = ::mmap(nullptr, length, PROT_READ, sealed_ ? MAP_SHARED : MAP_PRIVATE, fd_.get(), 0);
	if (p == MAP_FAILED)
		return makeError(Code::Io, fmt::format("mapping memfd for '{}': {}", name_, std::strerror(errno)), errno);
	map_ = p;
	mapLength_ = length;
	return {};
}

Result<void> SealedMemfd::seal()
{
	if (sealed_)
		return {};
	if (::fcntl(fd_.get(), F_ADD_SEALS, kAllSeals) < 0)
		return makeError(Code::Io, fmt::format("sealing memfd for '{}': {}", name_, std::strerror(errno)), errno);
	sealed_ = true;
	return {};
}

Result<void> SealedMemfd::sealAndMap()
{
	KEXECD_TRY(seal());
	return map(size_);
}

Result<SealedMemfd> SealedMemfd::create(std::string_view name, uint64_t size, uint64_t capacity)
{
	auto memfd = createMemfd(name);
	if (!memfd)
		return memfd.takeError();
	SealedMemfd result(std::move(*memfd), 0, std::string(name));
	KEXECD_TRY(result.resize(size));
	KEXECD_TRY(result.map(std::max(size, capacity)));
	return result;
}

Result<SealedMemfd> SealedMemfd::duplicate() const
{
	if (!sealed_)
		return makeError(Code::Internal, fmt::format("memfd for '{}' is not sealed", name_));
	int fd = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return makeError(Code::Io, fmt::format("duplicating memfd for '{}': {}", name_, std::strerror(errno)), errno);
	SealedMemfd result(UniqueFd(fd), size_, name_);
	result.sealed_ = true;
	KEXECD_TRY(result.map(size_));
	return result;
}

Result<void> SealedMemfd::resize(uint64_t size)
{
	if (sealed_ || (map_ && size > mapLength_))
		return makeError(Code::Internal, fmt::format("memfd for '{}' cannot grow to {} bytes", name_, size));
	if (::ftruncate(fd_.get(), static_cast<off_t>(size)) < 0)
		return makeError(Code::Io, fmt::format("sizing memfd for '{}': {}", name_, std::strerror(errno)), errno);
	size_ = size;
	return {};
}

Result<void> SealedMemfd::writeAt(uint64_t outOff, std::span<const uint8_t> bytes)
{
	if (outOff > size_ || bytes.size() > size_ - outOff)
		return makeError(Code::Internal, fmt::format("write past the end of the memfd for '{}'", name_));
	size_t done = 0;
	while (done < bytes.size()) {
		ssize_t n = ::pwrite(fd_.get(), bytes.data() + done, bytes.size() - done,
				     static_cast<off_t>(outOff + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return makeError(Code::Io, fmt::format("writing memfd for '{}': {}", name_, std::strerror(errno)), errno);
		}
		done += static_cast<size_t>(n);
	}
	return {};
}

Result<void> SealedMemfd::copyIn(int fd, uint64_t inOff, uint64_t outOff, uint64_t len, std::string_view label)
{
	if (outOff > size_ || len > size_ - outOff)
		return makeError(Code::Internal, fmt::format("copy past the end of the memfd for '{}'", name_));
	/* sendfile() writes at the file position: one page-cache-to-shmem copy,
	 * no user buffer. copy_file_range() would be EXDEV from any other
	 * filesystem. */
	if (::lseek(fd_.get(), static_cast<off_t>(outOff), SEEK_SET) < 0)
		return makeError(Code::Io, fmt::format("seeking memfd for '{}': {}", name_, std::strerror(errno)), errno);
	off_t off = static_cast<off_t>(inOff);
	uint64_t left = len;
	bool useSendfile = true;
	std::vector<uint8_t> buffer;
	while (left > 0) {
		ssize_t n;
		if (useSendfile) {
			n = ::sendfile(fd_.get(), fd, &off, std::min<uint64_t>(left, 1u << 30));
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
				useSendfile = false;
				continue;
			}
		} else {
			n = readChunk(fd, buffer, left, &off);
			if (n > 0)
				KEXECD_TRY(writeAt(outOff + (len - left), { buffer.data(), static_cast<size_t>(n) }));
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return makeError(Code::Io, fmt::format("reading '{}': {}", label, std::strerror(errno)), errno);
		}
		if (n == 0)
			return makeError(Code::InvalidImage,
					 fmt::format("'{}' ended at byte {} while being read: it changed underneath", label,
						     static_cast<uint64_t>(off)));
		left -= static_cast<uint64_t>(n);
	}
	return {};
}

Result<SealedMemfd> SealedMemfd::copyFrom(int fd, std::string_view name, uint64_t limit)
{
	auto memfd = createMemfd(name);
	if (!memfd)
		return memfd.takeError();
	const std::string label(name);

	struct stat st;
	if (::fstat(fd, &st) < 0)
		return makeError(Code::Io, fmt::format("'{}': {}", label, std::strerror(errno)), errno);
	if (S_ISDIR(st.st_mode))
		return makeError(Code::InvalidArgument, fmt::format("'{}' is a directory", label), EISDIR);
	if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > limit)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}' is {} bytes, larger than the limit of {} bytes",
					     label, st.st_size, limit), EFBIG);

	/* Read from offset 0 where we can, so a caller's file position does
	 * not change what gets staged. */
	loff_t inOff = 0;
	const bool seekable = S_ISREG(st.st_mode);
	uint64_t total = 0;
	bool useCopyRange = seekable;
	bool useSendfile = seekable;
	std::vector<uint8_t> buffer;

	for (;;) {
		/* One byte past the limit tells "too large" from "exactly at". */
		const uint64_t want = std::min<uint64_t>(limit + 1 - total, 1u << 30);
		if (want == 0)
			break;
		ssize_t n;
		if (useCopyRange) {
			n = ::copy_file_range(fd, &inOff, memfd->get(), nullptr, want, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP || errno == EBADF)) {
				useCopyRange = false;
				continue;
			}
		} else if (useSendfile) {
			off_t off = inOff;
			n = ::sendfile(memfd->get(), fd, &off, want);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
				useSendfile = false;
				continue;
			}
			if (n > 0)
				inOff = off;
		} else {
			/* Pipes and sockets: plain read loop, the only way. */
			n = readChunk(fd, buffer, want, seekable ? &inOff : nullptr);
			if (n > 0)
				KEXECD_TRY(writeAll(memfd->get(), buffer.data(), static_cast<size_t>(n)));
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return makeError(Code::Io, fmt::format("reading '{}': {}", label, std::strerror(errno)), errno);
		}
		if (n == 0)
			break;
		total += static_cast<uint64_t>(n);
	}
	if (total > limit)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}' is larger than the limit of {} bytes", label, limit), EFBIG);

	SealedMemfd result(std::move(*memfd), total, label);
	auto sealed = result.sealAndMap();
	if (!sealed)
		return sealed.takeError();
	return result;
}

Result<SealedMemfd> SealedMemfd::fromBytes(std::span<const uint8_t> bytes, std::string_view name)
{
	const std::span<const uint8_t> parts[] = { bytes };
	return concat(parts, name);
}

Result<SealedMemfd> SealedMemfd::concat(std::span<const std::span<const uint8_t>> parts,
					std::string_view name)
{
	auto memfd = createMemfd(name);
	if (!memfd)
		return memfd.takeError();
	uint64_t total = 0;
	for (const auto &part : parts)
		total += part.size();
	/* Size first: one allocation, and ENOSPC/ENOMEM before any copying. */
	if (::ftruncate(memfd->get(), static_cast<off_t>(total)) < 0)
		return makeError(Code::Io, fmt::format("sizing memfd for '{}': {}", name, std::strerror(errno)), errno);
	for (const auto &part : parts) {
		auto w = writeAll(memfd->get(), part.data(), part.size());
		if (!w)
			return w.takeError();
	}
	SealedMemfd result(std::move(*memfd), total, std::string(name));
	auto sealed = result.sealAndMap();
	if (!sealed)
		return sealed.takeError();
	return result;
}

} // namespace kexecd
