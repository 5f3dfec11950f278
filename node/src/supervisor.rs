//! Supervision of the node's long-lived tasks. Each one (templates, Stratum, the sharechain
//! writer, P2P, the API, block submission) runs until shutdown; one that ends before, by
//! returning or by panicking, leaves the node half alive: serving stale work with a dead
//! template task, or taking shares nobody stores. The supervisor turns that into a clean stop
//! with a non-zero exit and a log line naming the task, so systemd or Docker restarts a whole
//! node instead of users mining on a broken one.

use futures::future::{select_all, FutureExt};
use std::future::Future;
use std::time::Duration;
use tokio::task::{JoinError, JoinHandle};
use tracing::warn;

/// How a supervised task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// It returned; `reason` is its own account (an error it gave up on), if any.
    Returned { reason: Option<String> },
    /// It panicked with this message.
    Panicked { message: String },
    /// It was cancelled (aborted) from outside.
    Cancelled,
}

impl std::fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskEnd::Returned { reason: None } => write!(f, "returned"),
            TaskEnd::Returned {
                reason: Some(reason),
            } => write!(f, "gave up: {reason}"),
            TaskEnd::Panicked { message } => write!(f, "panicked: {message}"),
            TaskEnd::Cancelled => write!(f, "was cancelled"),
        }
    }
}

/// A task that ended while the node was meant to keep running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {task} task stopped unexpectedly ({end}); the node stops rather than run without it")]
pub struct TaskFailed {
    pub task: &'static str,
    pub end: TaskEnd,
}

/// A task's outcome: `Ok(())`, or the reason it gave up.
pub type TaskResult = Result<(), String>;

/// The named tasks of one node.
#[derive(Default)]
pub struct Supervisor {
    tasks: Vec<(&'static str, JoinHandle<TaskResult>)>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Spawns `task` under `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = TaskResult> + Send + 'static,
    {
        self.tasks.push((name, tokio::spawn(task)));
    }

    /// Supervises a task spawned elsewhere (a library that hands back its handle).
    pub fn adopt<T: Send + 'static>(&mut self, name: &'static str, handle: JoinHandle<T>) {
        self.spawn(name, async move {
            match handle.await {
                Ok(_) => Ok(()),
                // Re-raise so the supervisor reports the original panic message.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err("cancelled".into()),
            }
        });
    }

    /// Names of the tasks still supervised.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(n, _)| *n).collect()
    }

    /// Resolves when the first task ends, which before shutdown is always a failure; the task
    /// leaves the supervisor. Pending forever when there is no task.
    ///
    /// One failure often ends others (a dead template task closes its channel, so the template
    /// source returns): of the tasks already ended when the first is seen, the report names the
    /// cause, a panic before a task that gave up, before one that merely returned.
    pub async fn first_failure(&mut self) -> TaskFailed {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let (result, index, _) =
            select_all(self.tasks.iter_mut().map(|(_, handle)| handle.fuse())).await;
        let (task, _) = self.tasks.swap_remove(index);
        let mut ended = vec![TaskFailed {
            task,
            end: end_of(result),
        }];
        let mut i = 0;
        while i < self.tasks.len() {
            if self.tasks[i].1.is_finished() {
                let (task, handle) = self.tasks.swap_remove(i);
                ended.push(TaskFailed {
                    task,
                    end: end_of(handle.await),
                });
            } else {
                i += 1;
            }
        }
        ended.sort_by_key(|f| match f.end {
            TaskEnd::Panicked { .. } => 0,
            TaskEnd::Returned { reason: Some(_) } => 1,
            TaskEnd::Returned { reason: None } => 2,
            TaskEnd::Cancelled => 3,
        });
        let mut ended = ended.into_iter();
        let cause = ended.next().unwrap_or(TaskFailed {
            task: "unknown",
            end: TaskEnd::Cancelled,
        });
        for other in ended {
            warn!(task = other.task, "also stopped: {}", other.end);
        }
        cause
    }

    /// Waits for every task to finish after the stop signal, in the order spawned; a task still
    /// running after `grace` is aborted and named in the log, so a stuck task cannot hold the
    /// process (and the store's lock) forever.
    pub async fn join_all(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut handle) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(result) => match end_of(result) {
                    TaskEnd::Returned { reason: None } | TaskEnd::Cancelled => {}
                    end => warn!(task = name, "task ended badly during shutdown: {end}"),
                },
                Err(_) => {
                    warn!(
                        task = name,
                        "task did not stop within {grace:?}; aborting it"
                    );
                    handle.abort();
                }
            }
        }
    }
}

fn end_of(result: Result<TaskResult, JoinError>) -> TaskEnd {
    match result {
        Ok(Ok(())) => TaskEnd::Returned { reason: None },
        Ok(Err(reason)) => TaskEnd::Returned {
            reason: Some(reason),
        },
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            TaskEnd::Panicked { message }
        }
        Err(_) => TaskEnd::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_by_name_with_its_message() {
        let mut s = Supervisor::new();
        s.spawn("forever", std::future::pending());
        s.spawn("templates", async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            panic!("template source lost");
        });
        let failed = s.first_failure().await;
        assert_eq!(failed.task, "templates");
        assert_eq!(
            failed.end,
            TaskEnd::Panicked {
                message: "template source lost".into()
            }
        );
        assert!(failed.to_string().contains("templates task stopped"));
        assert_eq!(s.names(), ["forever"]);
    }

    #[tokio::test]
    async fn a_task_that_returns_or_gives_up_is_a_failure_too() {
        let mut s = Supervisor::new();
        s.spawn("api", async { Err("listener closed".to_string()) });
        let failed = s.first_failure().await;
        assert_eq!(
            failed.end,
            TaskEnd::Returned {
                reason: Some("listener closed".into())
            }
        );
        let mut s = Supervisor::new();
        s.adopt(
            "p2p",
            tokio::spawn(async { panic!("swarm {}", "exploded") }),
        );
        s.adopt("ok", tokio::spawn(std::future::pending::<u8>()));
        let failed = s.first_failure().await;
        assert_eq!(
            (failed.task, failed.end),
            (
                "p2p",
                TaskEnd::Panicked {
                    message: "swarm exploded".into()
                }
            )
        );
    }

    #[tokio::test]
    async fn of_tasks_ended_together_the_panic_is_named() {
        let mut s = Supervisor::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        // Listed first, ends because the second dropped its sender.
        s.spawn("template source", async move {
            let _ = rx.recv().await;
            Ok(())
        });
        s.spawn("templates", async move {
            let _keep = tx;
            tokio::task::yield_now().await;
            panic!("boom");
        });
        // Both have ended before the supervisor looks.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let failed = s.first_failure().await;
        assert_eq!(failed.task, "templates");
        assert!(s.names().is_empty());
    }

    #[tokio::test]
    async fn join_all_aborts_a_task_that_ignores_the_stop() {
        let mut s = Supervisor::new();
        s.spawn("quick", async { Ok(()) });
        s.spawn("stuck", std::future::pending());
        tokio::time::timeout(
            Duration::from_secs(10),
            s.join_all(Duration::from_millis(50)),
        )
        .await
        .expect("join_all returns after the grace period");
    }
}
