//! Running a scenario: every variant's world built first, then for each verb every variant's
//! phase. One call at a time, the variants alternate call by call (pod i of each variant, in
//! an order that flips every pod), so slow drift of the machine hits all of them alike. With
//! several calls at once, the variants' phases run one after the other, each with that many
//! worker threads inside its node namespace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::stats::{Phase, Sample};
use super::world::{OpOut, Verb, World};
use crate::error::{Error, Result};

/// The three phases of one variant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phases {
    /// ADD of every pod.
    pub add: Phase,
    /// CHECK of every pod.
    pub check: Phase,
    /// DEL of every pod.
    pub del: Phase,
    /// VERSION once per pod (plugins only; empty for the floor).
    pub version: Phase,
}

impl Phases {
    /// The phase of `verb`.
    pub fn get(&self, verb: Verb) -> &Phase {
        match verb {
            Verb::Add => &self.add,
            Verb::Check => &self.check,
            Verb::Del => &self.del,
            Verb::Version => &self.version,
        }
    }

    fn get_mut(&mut self, verb: Verb) -> &mut Phase {
        match verb {
            Verb::Add => &mut self.add,
            Verb::Check => &mut self.check,
            Verb::Del => &mut self.del,
            Verb::Version => &mut self.version,
        }
    }
}

/// Runs ADD, CHECK and DEL of every pod of every world with `concurrency` calls at once.
pub(crate) fn run_worlds(worlds: &[World], concurrency: usize) -> Result<Vec<Phases>> {
    if concurrency <= 1 {
        return serial(worlds);
    }
    let mut all = Vec::with_capacity(worlds.len());
    let mut results: Vec<Vec<Option<Value>>> = Vec::with_capacity(worlds.len());
    for _ in worlds {
        all.push(Phases::default());
        results.push(Vec::new());
    }
    for verb in Verb::ALL {
        for ((world, phases), results) in worlds.iter().zip(&mut all).zip(&mut results) {
            if !world.runs(verb) {
                continue;
            }
            let (phase, outputs) = concurrent(world, verb, concurrency, results)?;
            *phases.get_mut(verb) = phase;
            if verb == Verb::Add {
                *results = outputs;
            }
        }
    }
    Ok(all)
}

/// One verb over all pods of `world` with `threads` workers; returns the phase and the ADD
/// results by pod.
fn concurrent(
    world: &World,
    verb: Verb,
    threads: usize,
    prev: &[Option<Value>],
) -> Result<(Phase, Vec<Option<Value>>)> {
    let n = world.pods.len();
    let next = AtomicUsize::new(0);
    let ready = Barrier::new(threads);
    // Each worker notes when it started and finished: the phase's wall time runs from the
    // first start to the last end (the spawning thread may not even run in between).
    type Worked = (Instant, Instant, Vec<(usize, OpOut)>);
    let per_thread = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Worked> {
                    world
                        .ns
                        .run_blocking(|| {
                            let worker = world.worker();
                            ready.wait();
                            let start = Instant::now();
                            let mut worker = worker?;
                            let mut done = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= n {
                                    return Ok((start, Instant::now(), done));
                                }
                                let prev = prev.get(i).and_then(Option::as_ref);
                                done.push((i, world.op(&mut worker, verb, i, prev)?));
                            }
                        })
                        .map_err(Error::netlink("entering the node namespace"))?
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut outs: Vec<Option<OpOut>> = (0..n).map(|_| None).collect();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    for thread in per_thread {
        let (start, end, done) = thread
            .map_err(|_| Error::Verification("a benchmark worker thread panicked".into()))??;
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
        for (i, out) in done {
            if let Some(slot) = outs.get_mut(i) {
                *slot = Some(out);
            }
        }
    }
    let wall = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    collect(outs, wall)
}

fn collect(outs: Vec<Option<OpOut>>, wall: Duration) -> Result<(Phase, Vec<Option<Value>>)> {
    let mut samples: Vec<Sample> = Vec::with_capacity(outs.len());
    let mut results = Vec::with_capacity(outs.len());
    let mut failures = Vec::new();
    for (i, out) in outs.into_iter().enumerate() {
        let out = out.ok_or_else(|| Error::Verification(format!("pod {i} was not run")))?;
        samples.push(out.sample);
        results.push(out.result);
        failures.extend(out.failure);
    }
    let wall = if wall.is_zero() {
        samples.iter().map(|s| s.latency).sum()
    } else {
        wall
    };
    Ok((
        Phase {
            samples,
            wall,
            failures,
        },
        results,
    ))
}

/// A job for a world's serial lane.
struct Job {
    verb: Verb,
    index: usize,
    prev: Option<Value>,
}

/// One call at a time, the worlds alternating call by call, each on a thread of its own in its
/// node namespace.
fn serial(worlds: &[World]) -> Result<Vec<Phases>> {
    let n = worlds.iter().map(|w| w.pods.len()).max().unwrap_or(0);
    std::thread::scope(|scope| {
        let mut lanes = Vec::with_capacity(worlds.len());
        for world in worlds {
            let (job_tx, job_rx) = mpsc::channel::<Job>();
            let (out_tx, out_rx) = mpsc::channel::<Result<OpOut>>();
            let handle = scope.spawn(move || -> Result<()> {
                world
                    .ns
                    .run_blocking(|| -> Result<()> {
                        let mut worker = world.worker()?;
                        for job in job_rx {
                            let out = world.op(&mut worker, job.verb, job.index, job.prev.as_ref());
                            if out_tx.send(out).is_err() {
                                break;
                            }
                        }
                        Ok(())
                    })
                    .map_err(Error::netlink("entering the node namespace"))?
            });
            lanes.push((job_tx, out_rx, handle));
        }
        let run = drive(worlds, &lanes, n);
        let mut lane_errors = Vec::new();
        for (job_tx, out_rx, handle) in lanes {
            drop((job_tx, out_rx));
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => lane_errors.push(e),
                Err(_) => lane_errors.push(Error::Verification(
                    "a benchmark lane thread panicked".into(),
                )),
            }
        }
        // A lane that failed to start explains a closed channel better than the channel does.
        match (run, lane_errors.into_iter().next()) {
            (Ok(phases), None) => Ok(phases),
            (Ok(_), Some(e)) => Err(e),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e),
        }
    })
}

type Lane<'s> = (
    mpsc::Sender<Job>,
    mpsc::Receiver<Result<OpOut>>,
    std::thread::ScopedJoinHandle<'s, Result<()>>,
);

fn drive(worlds: &[World], lanes: &[Lane<'_>], n: usize) -> Result<Vec<Phases>> {
    let mut all: Vec<Phases> = worlds.iter().map(|_| Phases::default()).collect();
    let mut results: Vec<Vec<Option<Value>>> = worlds.iter().map(|_| vec![None; n]).collect();
    for verb in Verb::ALL {
        let mut outs: Vec<Vec<Option<OpOut>>> = worlds
            .iter()
            .map(|_| (0..n).map(|_| None).collect())
            .collect();
        for i in 0..n {
            let order: Vec<usize> = if i % 2 == 0 {
                (0..lanes.len()).collect()
            } else {
                (0..lanes.len()).rev().collect()
            };
            for w in order {
                if !worlds.get(w).is_some_and(|world| world.runs(verb)) {
                    continue;
                }
                let (Some((job_tx, out_rx, _)), Some(slot)) =
                    (lanes.get(w), outs.get_mut(w).and_then(|o| o.get_mut(i)))
                else {
                    continue;
                };
                let prev = results.get(w).and_then(|r| r.get(i)).cloned().flatten();
                job_tx
                    .send(Job {
                        verb,
                        index: i,
                        prev,
                    })
                    .map_err(|_| Error::Verification("a benchmark lane stopped".into()))?;
                let out = out_rx
                    .recv()
                    .map_err(|_| Error::Verification("a benchmark lane stopped".into()))??;
                *slot = Some(out);
            }
        }
        for (((world, phases), outs), results) in
            worlds.iter().zip(&mut all).zip(outs).zip(&mut results)
        {
            if !world.runs(verb) {
                continue;
            }
            let (phase, outputs) = collect(outs, Duration::ZERO)?;
            *phases.get_mut(verb) = phase;
            if verb == Verb::Add {
                *results = outputs;
            }
        }
    }
    Ok(all)
}
