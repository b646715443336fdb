//! Waiting for the user: Enter on stdin, or Ctrl-C, whichever comes first.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

extern "C" fn interrupted(_: libc_int) {}

#[allow(non_camel_case_types)]
type libc_int = std::ffi::c_int;

/// Blocks until a line (or end of file) arrives on stdin, or SIGINT. While waiting, Ctrl-C does
/// not kill the process: it ends the wait, so the caller can clean up. The previous SIGINT
/// disposition is restored afterwards.
pub fn enter_or_interrupt() {
    // No SA_RESTART: the signal interrupts the read below with EINTR.
    let action = SigAction::new(
        SigHandler::Handler(interrupted),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing at all, which is async-signal-safe.
    let previous = unsafe { sigaction(Signal::SIGINT, &action) };
    let stdin = std::io::stdin();
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(&stdin, &mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {}
        }
    }
    if let Ok(previous) = previous {
        // SAFETY: restores the disposition that was in place before.
        let _ = unsafe { sigaction(Signal::SIGINT, &previous) };
    }
}
