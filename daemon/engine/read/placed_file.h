// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 2 with each byte copied once (issue 16): an input file
// goes from the caller's fd straight to where the kernel will read it,
// hashed on the other cores while it lands.
//
// - BPF scheme: the UKI into the image container, as its first section
//   (.pe.1 is at offset 64 whatever follows: elf_container.h), and each
//   addon right after it, where the container's layout puts it.
// - Classic scheme, in two steps: first everything but the payloads of
//   .linux, .initrd and .ucode, into a memfd of the file's size with holes
//   there (the "skeleton"), enough to parse the UKI, its profiles and the
//   addons; then, once the addons and the profile are known, each payload
//   into the kernel memfd or at its offset in the initrd memfd, and the
//   payloads nobody loads (other profiles') into the skeleton's holes.
// - A plain kernel's initrds: each whole file at its offset in the initrd.
//
// The UKI's PlacedFile is the host: it owns the container, or the kernel
// and initrd memfds, into which the addons' PlacedFiles (its guests) copy
// too; guests go before their host.
//
// Everything is parsed and verified from these copies, never from the
// caller's file again: the file changing underneath changes nothing but
// the copy, and a file that shrinks is a named error.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compose.h"
#include "elf_container.h"
#include "memfd.h"
#include "pe.h"
#include "stream_digest.h"

namespace kexecd {

class PlacedFile
{
public:
	/* Offset of .pe.1 in an image container: right after the ELF header. */
	static constexpr uint64_t kContainerDataOffset = 64;

	/* The size of the file fd when it can be placed: a regular file, not
	 * empty, at most limit bytes (its size is known before reading);
	 * nullopt when it is read whole instead. */
	static std::optional<uint64_t> placeableSize(int fd, uint64_t limit);

	/* fd: the caller's regular file of size bytes (a dup is kept). */
	static Result<std::unique_ptr<PlacedFile>> intoContainer(int fd, const std::string &origin, uint64_t size,
								 uint64_t capacity, const PeLimits &limits);
	static Result<std::unique_ptr<PlacedFile>> skeleton(int fd, const std::string &origin, uint64_t size,
							    const PeLimits &limits);
	/* An addon into host's container at containerEnd(); nullptr when it
	 * is not a regular file or does not fit the room reserved (it is then
	 * read whole and copied at finishContainer()). */
	static Result<std::unique_ptr<PlacedFile>> besideInContainer(PlacedFile &host, int fd,
								     const std::string &origin,
								     const PeLimits &limits);
	/* A whole file of size bytes at offset at in target (which must be
	 * that large): only its SHA-256 is computed. */
	static Result<std::unique_ptr<PlacedFile>> intoMemfd(SealedMemfd &target, uint64_t at, int fd,
							     const std::string &origin, uint64_t size);
	PlacedFile(const PlacedFile &) = delete;
	PlacedFile &operator=(const PlacedFile &) = delete;
	/* Stops the hashers before any memory they read goes. */
	~PlacedFile();

	/* What to parse now: the file in the container, or the skeleton (holes
	 * read as zeros until placeClassic()). */
	FileView view() const;
	uint64_t size() const { return size_; }
	/* The file's SHA-256, computed while it was copied; "" if the copy
	 * failed. Waits for it. */
	std::string sha256Hex();
	/* pe (parsed from view()) gets the Authenticode digest being computed. */
	void lendAuthenticode(PeFile &pe) const;

	/* BPF, on the host: where the next section goes, and the bytes that
	 * now stay before it (a guest kept, an .ima section). */
	uint64_t containerEnd() const { return containerEnd_; }
	void extendContainer(uint64_t bytes) { containerEnd_ += bytes; }
	/* Lay out the rest of the container around the files placed in it
	 * (sections as composeImageContainer() takes them, the first being
	 * the host) and seal it, the guests' hashers done. false, with
	 * nothing written: a file placed is not where the layout puts it (an
	 * addon was dropped after it was placed), or the container outgrows
	 * the room reserved (an addon that is no regular file). */
	Result<bool> finishContainer(std::span<const ElfSection> sections);
	const SealedMemfd &container() const { return *memfd_; }
	bool isContainer() const { return kind_ == Kind::Container; }
	/* Classic: payloads still wait for placeClassic(). */
	bool needsPlacing() const { return kind_ == Kind::Skeleton && !deferred_.empty() && !hashers_; }

	/* Classic, step two, on the host: resolved and initrd are what the
	 * stager composes from the images parsed so far, guests the addons'
	 * skeletons. After it, every view() has its payloads. */
	Result<void> placeClassic(const SectionSet &resolved, const InitrdComposition &initrd,
				  std::span<PlacedFile *const> guests);
	/* Wait for the hashers, then seal the memfds this one owns. A guest's
	 * hashers read its host's memfds: guests seal first. */
	Result<void> seal();
	/* The kernel and initrd memfds placeClassic() filled (null if none). */
	const SealedMemfd *kernel() const { return kernel_ ? &*kernel_ : nullptr; }
	const SealedMemfd *initrd() const { return initrd_ ? &*initrd_ : nullptr; }
	/* The kernel memfd's SHA-256 and Authenticode digest, computed while
	 * it was filled (null if there is none). */
	const FileHashers *kernelHashers() const { return kernelHashers_.get(); }

private:
	enum class Kind {
		Container, // the host of an image container
		Skeleton,  // classic: its own memfd, payloads deferred
		Guest,     // in another's memfd (an addon in the container, an initrd)
	};
	struct Copy {
		ByteRange from;    // in the caller's file
		SealedMemfd *to;
		uint64_t at;       // offset in to
		CopyProgress *toProgress = nullptr; // advanced as to fills, from at
	};

	PlacedFile(int fd, std::string origin, uint64_t size, Kind kind);
	/* A PlacedFile with its own dup of fd, or the dup's error. */
	static Result<std::unique_ptr<PlacedFile>> make(int fd, const std::string &origin, uint64_t size, Kind kind);
	/* The headers, then, with the hashers started, the rest. */
	Result<void> copyPe(const PeLimits &limits);
	/* Copies in file order, advancing progress_ as each piece lands; the
	 * bytes between the copies are in place already. */
	Result<void> copyAll(std::vector<Copy> copies);
	void startHashers(FileView view);
	const ByteRange *deferredAt(std::span<const uint8_t> bytes) const;
	/* placeClassic() for one file: its placed payloads become redirects,
	 * the rest fill its holes. */
	Result<void> placeOwn(std::vector<Copy> copies);
	/* The kernel's headers into kernel_, its hashers started; the copy
	 * of the rest is added to copies. */
	Result<void> placeKernelHead(const ByteRange &r, std::vector<Copy> &copies);

	UniqueFd fd_;
	std::string origin_;
	uint64_t size_ = 0;
	Kind kind_;
	SealedMemfd own_;     // the container, or the skeleton
	SealedMemfd *memfd_ = &own_; // where the file is: own_, or its host's
	uint64_t base_ = 0;   // the file's offset in *memfd_
	uint64_t containerEnd_ = 0;
	std::vector<ByteRange> deferred_; // classic: payloads not read yet, by offset
	std::vector<FileView::Redirect> redirects_; // classic: the payloads placed
	std::optional<std::vector<ByteRange>> authenticodeRanges_;
	std::optional<SealedMemfd> kernel_;
	std::optional<SealedMemfd> initrd_;
	CopyProgress progress_;
	CopyProgress kernelProgress_;
	std::unique_ptr<FileHashers> kernelHashers_;
	std::unique_ptr<FileHashers> hashers_; // last: goes first
};

} // namespace kexecd
