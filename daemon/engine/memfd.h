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
	void unmap();

	UniqueFd fd_;
	uint64_t size_ = 0;
	std::string name_;
	void *map_ = nullptr;
};

} // namespace kexecd
