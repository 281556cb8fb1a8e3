// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Pipeline step 2 ("read once"): every input is copied into its own memfd,
// sealed against any further change, and only that copy is parsed,
// verified, composed and handed to the kernel.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fd.h"
#include "result.h"

namespace kexecd {

class SealedMemfd
{
public:
	SealedMemfd() = default;
	SealedMemfd(SealedMemfd &&other) noexcept;
	SealedMemfd &operator=(SealedMemfd &&other) noexcept;
	SealedMemfd(const SealedMemfd &) = delete;
	SealedMemfd &operator=(const SealedMemfd &) = delete;
	~SealedMemfd();

	/* Copy all of fd (from offset 0, or its current position if it is not
	 * seekable) into a new sealed memfd; refuse more than limit bytes. */
	static Result<SealedMemfd> copyFrom(int fd, std::string_view name, uint64_t limit);
	/* A sealed memfd holding exactly these bytes. */
	static Result<SealedMemfd> fromBytes(std::span<const uint8_t> bytes, std::string_view name);
	/* Concatenate parts into a sealed memfd. */
	static Result<SealedMemfd> concat(std::span<const std::span<const uint8_t>> parts,
					  std::string_view name);

	/* An unsealed memfd of size bytes (holes until written), mapped
	 * read-only for capacity bytes so it may grow up to that without the
	 * mapping, or spans into it, moving. Filled with copyIn()/writeAt(),
	 * then seal()ed; nothing else ever sees it before that, and only the
	 * sealed file is handed on (issue 16: bytes are copied once, straight
	 * to where the kernel will read them). */
	static Result<SealedMemfd> create(std::string_view name, uint64_t size, uint64_t capacity = 0);
	Result<void> resize(uint64_t size);
	uint64_t capacity() const { return mapLength_; }
	/* len bytes of fd from inOff to outOff; a file that ends early is a
	 * named error (it changed while being read). */
	Result<void> copyIn(int fd, uint64_t inOff, uint64_t outOff, uint64_t len, std::string_view label);
	Result<void> writeAt(uint64_t outOff, std::span<const uint8_t> bytes);
	Result<void> seal();
	bool sealed() const { return sealed_; }
	/* The same sealed file through another descriptor and mapping: no
	 * bytes are copied. */
	Result<SealedMemfd> duplicate() const;

	int fd() const { return fd_.get(); }
	bool valid() const { return fd_.valid(); }
	uint64_t size() const { return size_; }
	const std::string &name() const { return name_; }
	/* Read-only view of the sealed content (mapped once). */
	std::span<const uint8_t> bytes() const
	{
		return { static_cast<const uint8_t *>(map_), static_cast<size_t>(size_) };
	}

private:
	SealedMemfd(UniqueFd fd, uint64_t size, std::string name);
	Result<void> sealAndMap();
	Result<void> map(uint64_t length);
	void unmap();

	UniqueFd fd_;
	uint64_t size_ = 0;
	std::string name_;
	void *map_ = nullptr;
	uint64_t mapLength_ = 0;
	bool sealed_ = false;
};

} // namespace kexecd
