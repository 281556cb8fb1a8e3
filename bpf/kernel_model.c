/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pc_send_plan() (parse_core.h) sends through km_handle() */
#include <stddef.h>
#include <stdint.h>
struct km_state;
int km_handle(struct km_state *km, const uint8_t *buf, size_t len);
#define PC_SINK struct km_state
#define PC_SEND(sink, rec, n) km_handle((sink), (rec), (size_t)(n))

#include "kernel_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

void km_init(struct km_state *km)
{
	memset(km, 0, sizeof(*km));
}

static void blobFree(struct km_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->size = 0;
}

void km_free(struct km_state *km)
{
	unsigned int i;

	blobFree(&km->kernel);
	blobFree(&km->initrd);
	blobFree(&km->cmdline);
	blobFree(&km->refusedPe);
	for (i = 0; i < KM_MAX_NEXT; i++)
		blobFree(&km->next[i]);
	km->nnext = 0;
}

static int blobSet(struct km_blob *b, const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return -ENOMEM;
	if (size)
		memcpy(copy, data, size);
	blobFree(b);
	b->data = copy;
	b->size = size;
	return 0;
}

static int queueNext(struct km_state *km, const uint8_t *data, size_t size)
{
	if (km->nnext >= KM_MAX_NEXT)
		return -ENOMEM;
	return blobSet(&km->next[km->nnext++], data, size);
}

/* Double the output buffer up to the kernel's decompression cap; -1 when
 * the cap is reached (the payload decompresses to too much) or on ENOMEM. */
static int growOutput(uint8_t **buf, size_t *cap)
{
	uint8_t *n;

	if (*cap >= KM_DECOMPRESS_CAP)
		return -1;
	*cap = *cap * 2 > KM_DECOMPRESS_CAP ? KM_DECOMPRESS_CAP : *cap * 2;
	n = realloc(*buf, *cap);
	if (!n)
		return -1;
	*buf = n;
	return 0;
}

static int inflateGzip(const uint8_t *in, size_t inSize, struct km_blob *out)
{
	z_stream zs;
	size_t cap = inSize * 4 + 4096, used = 0;
	uint8_t *buf;
	int ret;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		inflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)inSize;
	for (;;) {
		if (used == cap && growOutput(&buf, &cap))
			goto fail;
		zs.next_out = buf + used;
		zs.avail_out = (uInt)(cap - used);
		ret = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
		if (ret == Z_STREAM_END)
			break;
		if (ret != Z_OK)
			goto fail;
		if (zs.avail_in == 0 && zs.avail_out != 0)
			goto fail; /* truncated stream */
	}
	inflateEnd(&zs);
	blobFree(out);
	out->data = buf;
	out->size = used;
	return 0;
fail:
	inflateEnd(&zs);
	free(buf);
	return -EINVAL;
}

static int decompressZstd(const uint8_t *in, size_t inSize, struct km_blob *out)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	size_t cap = inSize * 4 + 4096, used = 0;
	ZSTD_inBuffer ib = { in, inSize, 0 };
	uint8_t *buf;
	size_t ret = 1;

	if (!ds)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		ZSTD_freeDStream(ds);
		return -ENOMEM;
	}
	while (ret != 0) {
		ZSTD_outBuffer ob;

		if (used == cap && growOutput(&buf, &cap))
			goto fail;
		ob.dst = buf + used;
		ob.size = cap - used;
		ob.pos = 0;
		ret = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(ret))
			goto fail;
		used += ob.pos;
		if (ret != 0 && ib.pos == ib.size && ob.pos < ob.size)
			goto fail; /* truncated frame */
	}
	ZSTD_freeDStream(ds);
	blobFree(out);
	out->data = buf;
	out->size = used;
	return 0;
fail:
	ZSTD_freeDStream(ds);
	free(buf);
	return -EINVAL;
}

/* VERIFY_SIG and IMA_CHECK (kexecd_ref.ko's handlers, see the header). */
static int checkSignature(struct km_state *km, uint16_t cmd, const uint8_t *payload, uint32_t plen)
{
	int ret;

	if (plen == 0)
		return -EINVAL;
	if (cmd == KEXEC_BPF_CMD_VERIFY_SIG) {
		ret = km->verify ? km->verify(km->verifyArg, cmd, payload, plen, payload, plen) : 0;
		if (ret)
			return blobSet(&km->refusedPe, payload, plen) ? -ENOMEM : ret;
	} else {
		if (!km->refusedPe.data)
			return -EINVAL; /* vouches for no PE */
		ret = km->verify ? km->verify(km->verifyArg, cmd, payload, plen, km->refusedPe.data,
					      km->refusedPe.size)
				 : 0;
		blobFree(&km->refusedPe);
		if (ret)
			return ret;
	}
	blobFree(&km->refusedPe);
	km->verified++;
	return 0;
}

static int handleCommand(struct km_state *km, const uint8_t *buf, size_t len);

int km_handle(struct km_state *km, const uint8_t *buf, size_t len)
{
	int ret;

	if (buf && len >= 2 && km->nlog < KM_LOG_MAX)
		km->log[km->nlog++] = pc_le16(buf);
	ret = handleCommand(km, buf, len);
	if (ret)
		km->lastRefusal = ret;
	return ret;
}

static int handleCommand(struct km_state *km, const uint8_t *buf, size_t len)
{
	uint16_t cmd, chunks;
	uint8_t subcmd, pipeline;
	uint32_t plen;
	const uint8_t *payload;
	int ret;

	/* bpf_buffer_parser (BP8) refuses NULL or non-positive sizes */
	if (!buf || len == 0 || len > 0x7fffffff)
		return -EINVAL;
	if (len < KEXEC_CMD_HDR_SIZE)
		return -EINVAL;
	cmd = pc_le16(buf);
	subcmd = buf[2];
	pipeline = buf[3];
	plen = pc_le32(buf + 4);
	chunks = pc_le16(buf + 8);
	if (plen > len - KEXEC_CMD_HDR_SIZE || chunks != 0)
		return -EINVAL;
	payload = buf + KEXEC_CMD_HDR_SIZE;
	/* a signature mode binds the parts to PEs the kernel checked */
	if ((cmd == KEXEC_BPF_CMD_COPY || cmd == KEXEC_BPF_CMD_DECOMPRESS) &&
	    km->sigMode != KEXEC_SIG_NONE && km->verified == 0)
		return -EKEYREJECTED;

	switch (cmd) {
	case KEXEC_BPF_CMD_VERIFY_SIG:
	case KEXEC_BPF_CMD_IMA_CHECK:
		ret = checkSignature(km, cmd, payload, plen);
		break;
	case KEXEC_BPF_CMD_DONE:
		km->parsed = 1;
		ret = 0;
		break;
	case KEXEC_BPF_CMD_DECOMPRESS:
		if (subcmd != KEXEC_BPF_SUBCMD_KERNEL || plen < 4)
			return -EINVAL;
		if (payload[0] == 0x1f && payload[1] == 0x8b)
			ret = inflateGzip(payload, plen, &km->kernel);
		else if (pc_le32(payload) == 0xfd2fb528)
			ret = decompressZstd(payload, plen, &km->kernel);
		else
			ret = -EINVAL;
		if (ret)
			return ret;
		if (pipeline == KEXEC_BPF_PIPELINE_FILL)
			ret = queueNext(km, km->kernel.data, km->kernel.size);
		break;
	case KEXEC_BPF_CMD_COPY:
		switch (subcmd) {
		case KEXEC_BPF_SUBCMD_KERNEL:
			if (plen == 0)
				return -EINVAL;
			ret = blobSet(&km->kernel, payload, plen);
			break;
		case KEXEC_BPF_SUBCMD_INITRD:
			ret = plen ? blobSet(&km->initrd, payload, plen) : 0;
			break;
		case KEXEC_BPF_SUBCMD_CMDLINE:
			if (plen == 0)
				return -EINVAL;
			ret = blobSet(&km->cmdline, payload, plen);
			break;
		default:
			return -EINVAL;
		}
		if (ret == 0 && pipeline == KEXEC_BPF_PIPELINE_FILL && plen)
			ret = queueNext(km, payload, plen);
		break;
	default:
		/* INVALID and unknown commands */
		return -EINVAL;
	}
	if (ret == 0)
		km->ncommands++;
	return ret;
}

int km_replay(struct km_state *km, const struct pc_buf *img, struct pc_state *st)
{
	/* one record for the whole run, as the BPF program's ring-buffer
	 * record, sized for the largest command */
	uint64_t max = 0;
	uint8_t *rec;
	uint32_t i;
	int ret;

	for (i = 0; i < st->ncmd && i < PC_MAX_CMDS; i++)
		max = st->cmd[i].total > max ? st->cmd[i].total : max;
	for (i = 0; i < st->npe && i < PC_MAX_PES; i++) {
		max = st->pe[i].size > max ? st->pe[i].size : max;
		max = st->pe[i].imaLen > max ? st->pe[i].imaLen : max;
	}
	if (max > PC_PAYLOAD_MAX)
		max = PC_PAYLOAD_MAX; /* pc_emit*() refuse more */
	rec = malloc(KEXEC_CMD_HDR_SIZE + max);
	if (!rec)
		return -ENOMEM;
	km->lastRefusal = 0;
	km->verified = 0;
	blobFree(&km->refusedPe);
	ret = pc_send_plan(img, st, km->sigMode, rec, km);
	free(rec);
	km->sendError = ret;
	if (ret == 0)
		return 0;
	if ((ret == -PC_E_KERNEL || ret == -PC_E_SIGNATURE) && km->lastRefusal)
		return km->lastRefusal;
	return -EFAULT;
}

int km_finish(struct km_state *km)
{
	if (!km->parsed || !km->kernel.size || !km->initrd.size || !km->cmdline.size)
		return -EINVAL;
	if (km->cmdline.data[km->cmdline.size - 1] != 0) {
		uint8_t *n = realloc(km->cmdline.data, km->cmdline.size + 1);

		if (!n)
			return -ENOMEM;
		n[km->cmdline.size] = 0;
		km->cmdline.data = n;
		km->cmdline.size++;
	}
	return 0;
}

int km_run(struct km_state *km, const uint8_t *image, size_t size, int nested)
{
	struct pc_buf img = { image, size };
	struct pc_state *st = malloc(sizeof(*st));
	int ret;

	km->parseError = 0;
	km->kernelError = 0;
	if (!st) {
		km->kernelError = -ENOMEM;
		return -1;
	}
	ret = pc_uki_plan(&img, st);
	if (ret) {
		km->parseError = ret;
		goto out;
	}
	ret = km_replay(km, &img, st);
	if (ret) {
		km->kernelError = ret;
		goto out;
	}
	if (!km->parsed) {
		km->kernelError = -EINVAL;
		goto out;
	}
	if (nested && km->nnext > 0) {
		/* the layer's queued buffers become the next layer's input */
		struct km_blob in = km->next[0];
		unsigned int i;

		for (i = 1; i < km->nnext; i++)
			blobFree(&km->next[i]);
		memset(km->next, 0, sizeof(km->next));
		km->nnext = 0;
		km->parsed = 0;
		img.base = in.data;
		img.size = in.size;
		ret = pc_zboot_plan(&img, st);
		if (ret) {
			km->parseError = ret;
			free(in.data);
			goto out;
		}
		ret = km_replay(km, &img, st);
		free(in.data);
		if (ret) {
			km->kernelError = ret;
			goto out;
		}
	}
	ret = km_finish(km);
	if (ret)
		km->kernelError = ret;
out:
	free(st);
	return km->parseError || km->kernelError ? -1 : 0;
}
