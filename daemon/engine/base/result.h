// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Errors are values inside the engine (libcamera/systemd style); the bus
// layer turns each Code into exactly one D-Bus error name (daemon/bus/errors.cpp).

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace kexecd {

enum class Code {
	InvalidArgument,   // caller asked for something malformed (option, path, limit)
	InvalidImage,      // a UKI/addon/container/kernel image failed parsing or validation
	InvalidEntry,      // a boot loader entry (Type #1 .conf) is malformed or points outside its partition
	SignatureRejected, // Authenticode or parser signature refused by policy
	NotStaged,         // operation needs a staged kernel
	Busy,              // another staging operation is running
	KernelRefused,     // kexec_file_load/unload failed in the kernel
	Unsupported,       // the running kernel or build lacks the feature
	AccessDenied,      // polkit said no
	Inhibited,         // a block inhibitor refuses the reboot
	NoCrashMemory,     // the crash slot has no (or too little) crashkernel= memory
	FirmwareRequest,   // a firmware request (setup UI, one-shot entry, capsule) needs the firmware path
	BootAssessment,    // boot counting (BootCounting=refuse, or no tries left) needs the firmware path
	WouldNotUnlock,    // a TPM2-bound volume the next boot needs would not unlock after a kexec
	Io,                // reading or writing a file or memfd failed
	Internal,          // a bug: should never reach a user
};

const char *codeName(Code code);

struct Error {
	Code code = Code::Internal;
	int errnum = 0; // positive errno when a syscall caused it, else 0
	std::string message;
};

inline Error makeError(Code code, std::string message, int errnum = 0)
{
	return Error{ code, errnum, std::move(message) };
}

template<class T>
class [[nodiscard]] Result
{
public:
	Result(T value) : v_(std::move(value)) {}
	Result(Error error) : v_(std::move(error)) {}

	bool ok() const { return v_.index() == 0; }
	explicit operator bool() const { return ok(); }

	T &value() & { assert(ok()); return std::get<0>(v_); }
	const T &value() const & { assert(ok()); return std::get<0>(v_); }
	T &&value() && { assert(ok()); return std::get<0>(std::move(v_)); }
	T *operator->() { return &value(); }
	const T *operator->() const { return &value(); }
	T &operator*() & { return value(); }
	const T &operator*() const & { return value(); }

	const Error &error() const { assert(!ok()); return std::get<1>(v_); }
	Error &&takeError() { assert(!ok()); return std::get<1>(std::move(v_)); }

private:
	std::variant<T, Error> v_;
};

template<>
class [[nodiscard]] Result<void>
{
public:
	Result() = default;
	Result(Error error) : error_(std::move(error)), ok_(false) {}

	bool ok() const { return ok_; }
	explicit operator bool() const { return ok_; }
	const Error &error() const { assert(!ok_); return error_; }
	Error &&takeError() { assert(!ok_); return std::move(error_); }

private:
	Error error_;
	bool ok_ = true;
};

/* Propagate an error from an expression returning Result<>. */
#define KEXECD_TRY(expr)                                   \
	do {                                               \
		auto _r = (expr);                          \
		if (!_r)                                   \
			return _r.takeError();             \
	} while (0)

} // namespace kexecd
