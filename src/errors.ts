/** Errors of the hugemmu host API. Kernel-visible failures keep the kernel's names. */

/** A system call failed the way Linux fails it (errno name such as 'EINVAL'). */
export class ErrnoError extends Error {
  constructor(readonly errno: string, readonly syscall: string, readonly code: number) {
    super(`${syscall}: ${errno}`);
    this.name = 'ErrnoError';
  }
}

/** An access delivered a signal (SIGSEGV, SIGBUS) or hit the OOM killer. */
export class SignalError extends Error {
  constructor(
    readonly signal: 'SIGSEGV' | 'SIGBUS' | 'OOM',
    readonly address: number,
    /** faults handled before the signal */
    readonly faults: number,
  ) {
    super(`${signal} at 0x${address.toString(16)}`);
    this.name = 'SignalError';
  }
}

/** The wasm32 limit of 4 GiB (or the configured host limit) was reached; the machine stays consistent. */
export class HostMemoryError extends Error {
  constructor(what: string) {
    super(`${what}: host memory limit reached (the core may use at most 4 GiB of wasm memory); the operation was not done`);
    this.name = 'HostMemoryError';
  }
}

/** A bad machine configuration or argument, named precisely. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The core trapped; the machine refuses further calls. */
export class MachineBrokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MachineBrokenError';
  }
}

/** A kernel invariant does not hold (found by Machine.checkInvariants()). */
export class InvariantError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'InvariantError';
  }
}

/** The request needs a kernel feature hugemmu does not model yet. */
export class UnsupportedFeatureError extends Error {
  constructor(readonly feature: string) {
    super(`not supported yet: ${feature}`);
    this.name = 'UnsupportedFeatureError';
  }
}
