//! Samples and their summaries: percentiles, pods per second, peak memory.

use std::time::Duration;

/// One timed operation (a plugin call, or the floor's in-process work for one pod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Wall-clock time of the operation.
    pub latency: Duration,
    /// Peak RSS of the plugin process tree in KiB (`None` for the in-process floor).
    pub max_rss_kib: Option<u64>,
    /// Anonymous memory of the plugin process when it exited, KiB (only in the benchmark's
    /// memory pass, which traces the plugin; `None` otherwise and for the floor).
    pub anon_kib: Option<u64>,
    /// CPU time (user + system) of the plugin processes (`None` for the floor).
    pub cpu: Option<Duration>,
    /// The plugin exited non-zero (a failed CHECK, DEL or VERSION; its time still counts).
    pub failed: bool,
}

/// The samples of one phase (one verb over all pods of one variant) and its wall time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phase {
    /// In pod order.
    pub samples: Vec<Sample>,
    /// From the first operation's start to the last one's end when calls ran at once; the sum
    /// of the latencies when they ran one at a time (interleaved with other variants).
    pub wall: Duration,
    /// What the failed calls said, in pod order.
    pub failures: Vec<String>,
}

/// The summary of a [`Phase`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency (nearest rank), ms.
    pub p99_ms: f64,
    /// Operations per second over the phase's wall time.
    pub per_sec: f64,
    /// Median CPU time per call, ms (plugins only).
    pub cpu_p50_ms: Option<f64>,
    /// Largest peak RSS of any call, KiB (plugins only).
    pub max_rss_kib: Option<u64>,
    /// Largest anonymous memory at exit of any call, KiB (memory pass only).
    pub anon_kib: Option<u64>,
    /// Calls that failed.
    pub failed: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile (0..=1) of `values` by nearest rank; 0 when empty.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(last))
        .copied()
        .unwrap_or_default()
}

impl Phase {
    /// Latencies, in pod order.
    pub fn latencies(&self) -> Vec<Duration> {
        self.samples.iter().map(|s| s.latency).collect()
    }

    /// Summarises the phase.
    pub fn summary(&self) -> Summary {
        let lat = self.latencies();
        let cpu: Vec<Duration> = self.samples.iter().filter_map(|s| s.cpu).collect();
        let wall = self.wall.as_secs_f64();
        Summary {
            count: lat.len(),
            p50_ms: ms(quantile(&lat, 0.5)),
            p99_ms: ms(quantile(&lat, 0.99)),
            per_sec: if wall > 0.0 {
                lat.len() as f64 / wall
            } else {
                0.0
            },
            cpu_p50_ms: (!cpu.is_empty()).then(|| ms(quantile(&cpu, 0.5))),
            max_rss_kib: self.samples.iter().filter_map(|s| s.max_rss_kib).max(),
            anon_kib: self.samples.iter().filter_map(|s| s.anon_kib).max(),
            failed: self.samples.iter().filter(|s| s.failed).count(),
        }
    }

    /// Median latency (ms) of the samples `range` (pod indices), e.g. the first or last hundred.
    pub fn p50_of(&self, range: std::ops::Range<usize>) -> f64 {
        let lat = self.latencies();
        let end = range.end.min(lat.len());
        let start = range.start.min(end);
        ms(quantile(lat.get(start..end).unwrap_or_default(), 0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            max_rss_kib: Some(ms * 100),
            anon_kib: None,
            cpu: Some(Duration::from_millis(ms / 2)),
            failed: ms == 3,
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&v, 0.0), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
        let one = [Duration::from_millis(7)];
        assert_eq!(quantile(&one, 0.99), Duration::from_millis(7));
    }

    #[test]
    fn summary_of_a_phase() {
        let phase = Phase {
            samples: (1..=10).map(sample).collect(),
            wall: Duration::from_secs(2),
            failures: Vec::new(),
        };
        let s = phase.summary();
        assert_eq!(s.count, 10);
        assert!((s.p50_ms - 5.0).abs() < 1e-9);
        assert!((s.p99_ms - 10.0).abs() < 1e-9);
        assert!((s.per_sec - 5.0).abs() < 1e-9);
        assert_eq!(s.max_rss_kib, Some(1000));
        assert_eq!(s.failed, 1);
        assert!((phase.p50_of(0..3) - 2.0).abs() < 1e-9);
        assert!((phase.p50_of(8..100) - 9.0).abs() < 1e-9);
        assert_eq!(phase.p50_of(20..30), 0.0);
    }

    #[test]
    fn floor_samples_have_no_process_figures() {
        let phase = Phase {
            samples: vec![Sample {
                latency: Duration::from_millis(1),
                max_rss_kib: None,
                anon_kib: None,
                cpu: None,
                failed: false,
            }],
            wall: Duration::from_millis(1),
            failures: Vec::new(),
        };
        let s = phase.summary();
        assert_eq!((s.max_rss_kib, s.cpu_p50_ms), (None, None));
    }
}
