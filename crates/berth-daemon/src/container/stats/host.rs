//! What the host contributes to a stats frame: its CPU time, cpus and memory.

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Nanoseconds of CPU time on all cpus since boot (`/proc/stat`).
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
    pub memory_total: u64,
    pub clock_ticks: u64,
}

impl Host {
    pub fn sample() -> Self {
        // SAFETY: sysconf only reads configuration values.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let clock_ticks = if ticks > 0 { ticks as u64 } else { 100 };
        // SAFETY: as above.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            system_cpu_usage: system_cpu_ticks(&stat) * (NANOS_PER_SEC / clock_ticks),
            online_cpus: u32::try_from(cpus).unwrap_or(1).max(1),
            memory_total: mem_total(&meminfo),
            clock_ticks,
        }
    }
}

/// The first seven fields of the `cpu` line summed (user nice system idle iowait irq softirq),
/// as dockerd's `getSystemCPUUsage`.
fn system_cpu_ticks(stat: &str) -> u64 {
    stat.lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .map(|rest| {
            rest.split_whitespace()
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            system_cpu_ticks("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1\n"),
            28
        );
        assert_eq!(mem_total("MemTotal:       2048 kB\n"), 2048 * 1024);
    }
}
