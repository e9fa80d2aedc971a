//! CPU time and memory of processes on this host, read from `/proc`: what
//! the database server and each node spent on a run, so the bench can
//! report CPU per fire beside fires per second.
//!
//! A PostgreSQL server is the postmaster and its children (one backend per
//! connection, plus background workers). A child's CPU time moves into its
//! parent's `cutime`/`cstime` when it exits and is reaped, so summing
//! `utime + stime + cutime + cstime` over the postmaster and its live
//! children before and after a run counts the backends that came and went
//! too. Only processes visible in this host's `/proc` are counted: a remote
//! server reports nothing (the figures are then `None`, never a guess).

use std::fs;

use crate::os;

/// The fields of `/proc/PID/stat` from the third (state) on.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields
    // after it start behind the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Field `n` of `/proc/PID/stat` (1-based, as proc(5) numbers them).
fn field(fields: &[String], n: usize) -> Option<u64> {
    // `fields` starts at field 3 (state).
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

/// `utime + stime` (with `children`: `+ cutime + cstime`) of `pid`, in ticks.
fn ticks(pid: u32, children: bool) -> Option<u64> {
    let f = stat_fields(pid)?;
    let own = field(&f, 14)? + field(&f, 15)?;
    Some(if children {
        own + field(&f, 16)? + field(&f, 17)?
    } else {
        own
    })
}

/// The parent of `pid`.
fn parent(pid: u32) -> Option<u32> {
    u32::try_from(field(&stat_fields(pid)?, 4)?).ok()
}

fn seconds(ticks: u64) -> f64 {
    ticks as f64 / os::clock_ticks_per_second() as f64
}

/// CPU seconds used so far by one process (not its children).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    ticks(pid, false).map(seconds)
}

/// The resident set of `pid` now and at its peak (`VmRSS`, `VmHWM`), bytes.
pub fn process_memory(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_bytes: kib("VmRSS:")? * 1024,
        peak_rss_bytes: kib("VmHWM:")? * 1024,
    })
}

/// A process's resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
}

/// A PostgreSQL server on this host, found from one of its backends.
#[derive(Debug, Clone, Copy)]
pub struct ServerProcesses {
    postmaster: u32,
}

impl ServerProcesses {
    /// The server whose backend has process id `backend_pid` (from
    /// `pg_backend_pid()`), if that process is visible here.
    pub fn of_backend(backend_pid: u32) -> Option<ServerProcesses> {
        let postmaster = parent(backend_pid)?;
        // The postmaster itself must be readable, or nothing adds up.
        ticks(postmaster, true)?;
        Some(ServerProcesses { postmaster })
    }

    /// CPU seconds the server has used so far: the postmaster with what it
    /// reaped, plus every live child.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let mut total = ticks(self.postmaster, true)?;
        for entry in fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != self.postmaster && parent(pid) == Some(self.postmaster) {
                total += ticks(pid, true).unwrap_or(0);
            }
        }
        Some(seconds(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        // Burn a little CPU so the count is not zero on a fast machine.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(process_cpu_seconds(me).is_some());
        let memory = process_memory(me).expect("our own status is readable");
        assert!(memory.rss_bytes > 0);
        assert!(memory.peak_rss_bytes >= memory.rss_bytes);
    }

    #[test]
    fn a_missing_process_reads_as_none() {
        assert_eq!(process_cpu_seconds(u32::MAX), None);
        assert!(ServerProcesses::of_backend(u32::MAX).is_none());
    }
}
