//! Prometheus metrics every role exposes, so one dashboard and one set of alerts covers the
//! fleet. Each role counts the messages it handles under its own `role` label; `kind` is the
//! task kind (`enrollments`, `metrics`, `statistics`) for workers, `result`/`finalize` for the
//! aggregator and `run`/`date` for the coordinator.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The counters, histogram and gauge of one role, in their own registry.
#[derive(Clone)]
pub struct FleetMetrics {
    registry: Registry,
    role: &'static str,
    received: IntCounterVec,
    succeeded: IntCounterVec,
    failed: IntCounterVec,
    retried: IntCounterVec,
    dead_lettered: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGaugeVec,
}

/// Upper bounds of the duration histogram: from a no-op task to an hour-long warehouse query.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

impl FleetMetrics {
    /// The metrics of `role` (`coordinator`, `worker`, `aggregator`, `embedded`).
    pub fn new(role: &'static str) -> FleetMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &["role", "kind"])
                .expect("metric names are valid constants");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        let received = counter(
            "jetstream_tasks_received_total",
            "Messages taken from the role's queue.",
        );
        let succeeded = counter(
            "jetstream_tasks_succeeded_total",
            "Messages handled and acknowledged (a task whose analysis failed but was recorded counts here and in failed).",
        );
        let failed = counter(
            "jetstream_tasks_failed_total",
            "Messages whose handling failed, or tasks whose result is a failure.",
        );
        let retried = counter(
            "jetstream_tasks_retried_total",
            "Messages given back for another attempt after a backoff.",
        );
        let dead_lettered = counter(
            "jetstream_tasks_dead_lettered_total",
            "Messages moved to the dead-letter queue (undecodable, or out of attempts).",
        );
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "jetstream_task_duration_seconds",
                "Time from taking a message to settling it.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["role", "kind"],
        )
        .expect("metric names are valid constants");
        registry
            .register(Box::new(duration.clone()))
            .expect("each metric is registered once");
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "jetstream_tasks_in_flight",
                "Messages taken and not yet settled.",
            ),
            &["role"],
        )
        .expect("metric names are valid constants");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("each metric is registered once");
        FleetMetrics {
            registry,
            role,
            received,
            succeeded,
            failed,
            retried,
            dead_lettered,
            duration,
            in_flight,
        }
    }

    /// A message of `kind` was taken; the returned guard counts it in flight until dropped and
    /// then observes its duration.
    pub fn start(&self, kind: &str) -> InFlight {
        self.received.with_label_values(&[self.role, kind]).inc();
        let gauge = self.in_flight.with_label_values(&[self.role]);
        gauge.inc();
        InFlight {
            gauge,
            timer: Some(
                self.duration
                    .with_label_values(&[self.role, kind])
                    .start_timer(),
            ),
        }
    }

    pub fn succeeded(&self, kind: &str) {
        self.succeeded.with_label_values(&[self.role, kind]).inc();
    }

    pub fn failed(&self, kind: &str) {
        self.failed.with_label_values(&[self.role, kind]).inc();
    }

    pub fn retried(&self, kind: &str) {
        self.retried.with_label_values(&[self.role, kind]).inc();
    }

    pub fn dead_lettered(&self, kind: &str) {
        self.dead_lettered
            .with_label_values(&[self.role, kind])
            .inc();
    }

    /// A counter's current value (tests, benchmarks and summaries).
    pub fn count(&self, counter: Counter, kind: &str) -> u64 {
        let vec = match counter {
            Counter::Received => &self.received,
            Counter::Succeeded => &self.succeeded,
            Counter::Failed => &self.failed,
            Counter::Retried => &self.retried,
            Counter::DeadLettered => &self.dead_lettered,
        };
        vec.with_label_values(&[self.role, kind]).get()
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the metric types above.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The counters of [`FleetMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Received,
    Succeeded,
    Failed,
    Retried,
    DeadLettered,
}

/// A message in flight: decrements the gauge and records the duration when dropped.
pub struct InFlight {
    gauge: prometheus::IntGauge,
    timer: Option<prometheus::HistogramTimer>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
        if let Some(timer) = self.timer.take() {
            timer.observe_duration();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_with_role_and_kind() {
        let m = FleetMetrics::new("worker");
        {
            let _t = m.start("metrics");
            m.succeeded("metrics");
            m.retried("metrics");
        }
        m.dead_lettered("statistics");
        m.failed("statistics");
        let text = m.render();
        for line in [
            "jetstream_tasks_received_total{kind=\"metrics\",role=\"worker\"} 1",
            "jetstream_tasks_succeeded_total{kind=\"metrics\",role=\"worker\"} 1",
            "jetstream_tasks_retried_total{kind=\"metrics\",role=\"worker\"} 1",
            "jetstream_tasks_dead_lettered_total{kind=\"statistics\",role=\"worker\"} 1",
            "jetstream_tasks_failed_total{kind=\"statistics\",role=\"worker\"} 1",
            "jetstream_task_duration_seconds_count{kind=\"metrics\",role=\"worker\"} 1",
            "jetstream_tasks_in_flight{role=\"worker\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(m.count(Counter::Retried, "metrics"), 1);
    }
}
