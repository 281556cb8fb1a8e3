// SPDX-License-Identifier: LGPL-2.1-or-later
#include "stream_digest.h"

#include <openssl/evp.h>

#include <limits>

#include "authenticode.h"
#include "openssl_util.h"

namespace kexecd {

namespace {

/* Small enough to be hashed while it is still in the cache after the
 * copy, large enough that waiting costs nothing. */
constexpr uint64_t kHashStep = 4u << 20;

/* Hash [offset, offset + size) of view in steps, each once it is in place. */
bool hashRange(EVP_MD_CTX *ctx, const FileView &view, const CopyProgress &progress, uint64_t offset,
	       uint64_t size)
{
	bool ok = true;
	while (size > 0 && ok) {
		const uint64_t step = std::min(size, kHashStep);
		if (!progress.waitFor(offset + step))
			return false;
		ok = view.forEach(offset, step, [&](std::span<const uint8_t> piece) {
			ok = ok && EVP_DigestUpdate(ctx, piece.data(), piece.size()) == 1;
		}) && ok;
		offset += step;
		size -= step;
	}
	return ok;
}

std::optional<std::vector<uint8_t>> digestRanges(const FileView &view, const CopyProgress &progress,
						 const std::vector<ByteRange> &ranges)
{
	detail::MdCtxPtr ctx(EVP_MD_CTX_new());
	if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
		return std::nullopt;
	for (const ByteRange &r : ranges)
		if (!hashRange(ctx.get(), view, progress, r.offset, r.size))
			return std::nullopt;
	std::vector<uint8_t> digest(32);
	unsigned len = 0;
	if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1 || len != digest.size())
		return std::nullopt;
	return digest;
}

} // namespace

void CopyProgress::advance(uint64_t done)
{
	done_.store(done, std::memory_order_release);
	done_.notify_all();
}

void CopyProgress::fail()
{
	failed_.store(true, std::memory_order_release);
	done_.store(std::numeric_limits<uint64_t>::max(), std::memory_order_release);
	done_.notify_all();
}

bool CopyProgress::waitFor(uint64_t end) const
{
	for (uint64_t d = done_.load(std::memory_order_acquire); d < end; d = done_.load(std::memory_order_acquire))
		done_.wait(d, std::memory_order_acquire);
	return !failed_.load(std::memory_order_acquire);
}

FileHashers::FileHashers(FileView view, std::optional<std::vector<ByteRange>> authenticodeRanges,
			 const CopyProgress &progress)
	: view_(std::move(view)), ranges_(std::move(authenticodeRanges))
{
	sha256_ = std::async(std::launch::async, [this, &progress]() -> std::string {
		auto digest = digestRanges(view_, progress, { ByteRange{ 0, view_.size() } });
		return digest ? detail::hexString(*digest) : std::string();
	}).share();
	if (ranges_)
		authenticode_ = std::async(std::launch::async, [this, &progress] {
			return digestRanges(view_, progress, *ranges_);
		}).share();
}

FileHashers::~FileHashers()
{
	/* Copies of the futures may live on in PeFiles: wait here, while the
	 * memory the threads read is still there. */
	wait();
}

void FileHashers::wait() const
{
	if (authenticode_.valid())
		authenticode_.wait();
	if (sha256_.valid())
		sha256_.wait();
}

std::string FileHashers::sha256Hex() const
{
	return sha256_.valid() ? sha256_.get() : std::string();
}

void FileHashers::lendAuthenticode(PeFile &pe) const
{
	if (!ranges_ || !authenticode_.valid())
		return;
	auto ranges = authenticodeRanges(pe);
	if (ranges && *ranges == *ranges_)
		pe.setPendingAuthenticodeSha256(authenticode_);
}

} // namespace kexecd
