//! The operating system calls cosched makes through libc: the host name,
//! the process's descriptor limit, signals to a job's process group (and
//! to the bench's child nodes), the clock tick that `/proc` counts in; and
//! the systemd readiness message ([`sd_notify`], plain std).
//! The one module allowed `unsafe` code; each block states why it is sound.

#![allow(unsafe_code)]

/// This machine's host name, or `localhost` when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf, which
    // lives until the call returns.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Sends `state` (`READY=1`, `STOPPING=1`) to the service manager at
/// `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace), as
/// `Type=notify` units expect; false when there is none or it fails (a
/// node outside systemd does nothing).
pub fn sd_notify(state: &str) -> bool {
    use std::os::unix::net::UnixDatagram;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let target = target.to_string_lossy().into_owned();
    let sent = match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &target),
    };
    sent.is_ok()
}

/// The soft `RLIMIT_NOFILE` of this process, if it can be read and is
/// finite.
pub fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Whether any process is still in the process group `pgid`.
pub fn process_group_alive(pgid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence; it has no
    // memory effects.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// SIGKILL to every process of the group `pgid`.
pub fn kill_process_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it has
    // no memory effects. The caller passes the group of a child it
    // started (see `jobs::command::process`).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// SIGTERM to the process `pid` (a node's graceful stop).
pub fn terminate(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) with a positive pid signals one process; it has no
    // memory effects. The caller passes a child it started and has not
    // reaped yet, so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Clock ticks per second, the unit of CPU times in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Whether an I/O error is "argument list too long" (E2BIG).
pub fn is_argument_list_too_long(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::E2BIG)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_has_a_name() {
        let name = super::hostname();
        assert!(!name.is_empty());
        assert!(!name.contains('\0'));
    }

    #[test]
    fn the_descriptor_limit_is_read() {
        assert!(super::descriptor_limit().is_some_and(|n| n > 0));
    }
}
