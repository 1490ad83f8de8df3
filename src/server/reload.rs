//! Reloading files by polling their contents.
//!
//! Kubernetes updates Secret and ConfigMap volumes by writing a new timestamped directory and
//! swapping the `..data` symlink to it; the files the pod opens are symlinks through
//! `..data`. inotify watches on those paths miss the swap, and mtimes can stay the same, so
//! stsguard re-reads the files every interval and compares their bytes. The handler sees
//! each new state once: a broken file is reported once, not at every poll.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::conn::stopped;

/// The contents of the watched files, or why they could not be read.
pub type Snapshot = Result<Vec<Vec<u8>>, ReadError>;

/// A watched file that could not be read. It keeps the I/O error as text: snapshots are
/// compared to report each new state once, and `io::Error` has no equality.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {}: {reason}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub reason: String,
}

/// Reads every file; the first unreadable one makes the snapshot an error.
pub fn read_all(paths: &[PathBuf]) -> Snapshot {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|e| ReadError {
                path: path.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Polls `paths` every `interval` until `stop` turns true, and calls `on_change` with each
/// snapshot that differs from the previous one (the first comparison is against
/// `initial`, what the caller loaded at start-up).
pub async fn poll<F>(
    paths: Vec<PathBuf>,
    interval: Duration,
    initial: Snapshot,
    mut stop: watch::Receiver<bool>,
    mut on_change: F,
) where
    F: FnMut(&Snapshot) + Send,
{
    let mut last = initial;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; start-up already read the files
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => {}
        }
        let read = {
            let paths = paths.clone();
            // Volumes are local, but a read must never stall a request worker.
            tokio::task::spawn_blocking(move || read_all(&paths)).await
        };
        let Ok(snapshot) = read else {
            continue;
        };
        if snapshot != last {
            on_change(&snapshot);
            last = snapshot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn reports_each_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watched");
        std::fs::write(&path, "one").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn({
            let seen = seen.clone();
            let paths = vec![path.clone()];
            let initial = read_all(&paths);
            poll(paths, Duration::from_millis(10), initial, stop, move |s| {
                seen.lock().unwrap().push(s.clone())
            })
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::write(&path, "two").unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::remove_file(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], Ok(vec![b"two".to_vec()]));
        assert!(seen[1].is_err());
    }
}
