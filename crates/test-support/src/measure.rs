//! What the benchmarks measure with, written once: latency percentiles, their printing, and a
//! process's memory from `/proc/<pid>/status` (Linux).

use std::time::Duration;

/// The nearest-rank `p`th percentile (0 < p <= 100) of `sorted` latencies; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A latency as the benchmarks print it: milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), of `pid` or, with `None`, of
/// this process; `None` where there is no such file (not Linux) or field.
pub fn proc_status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted[..1], 1.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(1500)), "1.50 ms");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_resident_set_and_no_made_up_field() {
        let rss = proc_status_kib(None, "VmRSS:").expect("Linux reports VmRSS");
        assert!(rss > 0);
        assert_eq!(proc_status_kib(None, "NoSuchField:"), None);
        assert_eq!(
            proc_status_kib(Some(std::process::id()), "VmRSS:").map(|k| k > 0),
            Some(true)
        );
    }
}
