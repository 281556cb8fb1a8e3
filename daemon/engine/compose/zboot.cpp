// SPDX-License-Identifier: LGPL-2.1-or-later
#include "zboot.h"

#include <cstring>

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

#include "le.h"
#include "text.h"

namespace kexecd {

namespace {

using detail::le32;

/* The header's payload_size covers the compressed stream exactly (zboot-header.S:
 * the section's size less the zstd size trailer), so a stream that ends before it
 * or runs past it means the header lies about the file (issue 31). */
Error sizeLies(const std::string &origin, size_t payloadSize, const std::string &how)
{
	return makeError(Code::InvalidImage,
			 fmt::format("'{}': zboot header: payload_size 0x{:x} {} (truncated, or the header lies)", origin,
				     payloadSize, how));
}

Result<std::vector<uint8_t>> gunzip(std::span<const uint8_t> in, const std::string &origin, uint64_t limit)
{
	z_stream zs{};
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return makeError(Code::Internal, "inflateInit2 failed");
	std::vector<uint8_t> out;
	zs.next_in = const_cast<Bytef *>(in.data());
	zs.avail_in = static_cast<uInt>(in.size());
	int rc = Z_OK;
	bool exhausted = false;
	while (rc != Z_STREAM_END) {
		if (out.size() >= limit) {
			inflateEnd(&zs);
			return makeError(Code::InvalidImage,
					 fmt::format("'{}': zboot kernel decompresses to more than {} bytes", origin, limit));
		}
		const size_t old = out.size();
		out.resize(std::min<uint64_t>(limit, std::max<size_t>(old * 2, 1 << 20)));
		zs.next_out = out.data() + old;
		zs.avail_out = static_cast<uInt>(out.size() - old);
		rc = inflate(&zs, Z_NO_FLUSH);
		out.resize(out.size() - zs.avail_out);
		if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
			exhausted = true;
			break;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			break;
	}
	const size_t left = zs.avail_in;
	inflateEnd(&zs);
	if (exhausted)
		return sizeLies(origin, in.size(), "ends inside the gzip stream");
	if (rc != Z_STREAM_END)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': zboot gzip payload is corrupt or truncated", origin));
	if (left)
		return sizeLies(origin, in.size(), fmt::format("runs {} bytes past the end of the gzip stream", left));
	return out;
}

Result<std::vector<uint8_t>> unzstd(std::span<const uint8_t> in, const std::string &origin, uint64_t limit)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	if (!ds)
		return makeError(Code::Internal, "ZSTD_createDStream failed");
	std::vector<uint8_t> out;
	ZSTD_inBuffer ib{ in.data(), in.size(), 0 };
	size_t rc = 1;
	bool exhausted = false;
	while (rc != 0) {
		if (out.size() >= limit) {
			ZSTD_freeDStream(ds);
			return makeError(Code::InvalidImage,
					 fmt::format("'{}': zboot kernel decompresses to more than {} bytes", origin, limit));
		}
		const size_t old = out.size();
		out.resize(std::min<uint64_t>(limit, std::max<size_t>(old * 2, 1 << 20)));
		ZSTD_outBuffer ob{ out.data() + old, out.size() - old, 0 };
		rc = ZSTD_decompressStream(ds, &ob, &ib);
		out.resize(old + ob.pos);
		if (ZSTD_isError(rc))
			break;
		if (ib.pos == ib.size && ob.pos == 0 && rc != 0) {
			rc = 1;
			exhausted = true;
			break;
		}
	}
	ZSTD_freeDStream(ds);
	if (exhausted)
		return sizeLies(origin, in.size(), "ends inside the zstd stream");
	if (rc == 0 && ib.pos < ib.size)
		return sizeLies(origin, in.size(),
				fmt::format("runs {} bytes past the end of the zstd stream", ib.size - ib.pos));
	if (rc != 0)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': zboot zstd payload is corrupt or truncated", origin));
	return out;
}

} // namespace

std::optional<ZbootHeader> probeZboot(std::span<const uint8_t> image)
{
	if (image.size() < 0x40 || image[0] != 'M' || image[1] != 'Z' ||
	    std::memcmp(image.data() + 4, "zimg", 4) != 0)
		return std::nullopt;
	ZbootHeader h;
	h.payloadOffset = le32(image, 0x08);
	h.payloadSize = le32(image, 0x0c);
	/* The name is only ever shown (errors reach D-Bus, the journal and
	 * kexecctl's terminal): the display rule of text.h. */
	const char *comp = reinterpret_cast<const char *>(image.data() + 0x18);
	h.compression = displayText(std::string_view(comp, strnlen(comp, 0x38 - 0x18)));
	return h;
}

Result<std::vector<uint8_t>> unpackZboot(std::span<const uint8_t> image, const std::string &origin,
					 uint64_t limit)
{
	const auto header = probeZboot(image);
	if (!header)
		return makeError(Code::InvalidImage, fmt::format("'{}': not a zboot image", origin));
	if (header->payloadOffset > image.size() || header->payloadSize > image.size() - header->payloadOffset ||
	    header->payloadSize < 4)
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': zboot payload (offset 0x{:x}, size 0x{:x}) lies outside the {}-byte file",
					     origin, header->payloadOffset, header->payloadSize, image.size()));
	const auto payload = image.subspan(header->payloadOffset, header->payloadSize);
	const bool gzip = payload[0] == 0x1f && payload[1] == 0x8b;
	const bool zstd = le32(payload, 0) == 0xfd2fb528;
	/* The kernel picks the decompressor by the payload's magic, so a header
	 * naming another compression lies about the file: named, not followed
	 * (upstream's names: "gzip", and "zstd22" for zstd). */
	if ((gzip && header->compression != "gzip") || (zstd && !header->compression.starts_with("zstd")))
		return makeError(Code::InvalidImage,
				 fmt::format("'{}': zboot header: comp_type '{}', but the payload is {}", origin,
					     header->compression, gzip ? "gzip" : "zstd"));
	if (gzip)
		return gunzip(payload, origin, limit);
	if (zstd)
		return unzstd(payload, origin, limit);
	return makeError(Code::Unsupported,
			 fmt::format("'{}': zboot compression '{}' is not supported (gzip and zstd are)", origin,
				     header->compression));
}

} // namespace kexecd
