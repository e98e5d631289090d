//! The cache conformance suite: Redis and the in-process cache pass the same
//! tests, including the atomicity that single-use codes rely on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use gatehouse_runtime::kv::{Kv, Taken};
use gatehouse_tests::{CacheBackend, test_kv};

macro_rules! on_every_cache {
    ($($name:ident),* $(,)?) => {
        mod memory { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(gatehouse_tests::test_kv(gatehouse_tests::CacheBackend::Memory).await).await }
        )* }
        mod redis { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(gatehouse_tests::test_kv(gatehouse_tests::CacheBackend::Redis).await).await }
        )* }
        mod redis_cluster { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(gatehouse_tests::test_kv(gatehouse_tests::CacheBackend::Cluster).await).await }
        )* }
    };
}

on_every_cache!(
    set_get_delete,
    values_expire,
    take_returns_once,
    take_and_mark_reports_replays,
    concurrent_take_and_mark_has_exactly_one_winner,
    incr_counts_within_a_window,
    set_if_absent_never_overwrites,
    replace_is_compare_and_set,
    restore_puts_a_taken_key_back_once,
    concurrent_reservations_never_pass_the_limit,
    released_slots_are_taken_again,
    keys_used_together_must_share_a_hash_tag,
    many_keys_across_slots_are_set_together,
);

async fn keys_used_together_must_share_a_hash_tag(kv: Arc<dyn Kv>) {
    let ttl = Duration::from_secs(60);
    kv.set("lone", b"record", ttl).await.unwrap();
    // Two keys one script touches, without a shared {tag}: on a cluster they
    // could sit on two nodes, so every engine refuses them, with the reason.
    let refused = kv.take_and_mark("lone", "lone-used", b"id", ttl).await.unwrap_err().to_string();
    assert!(refused.contains("hash tag"), "{refused}");
    let refused = kv.restore("lone", b"record", ttl, "lone-used", b"id").await.unwrap_err().to_string();
    assert!(refused.contains("hash tag"), "{refused}");
    assert_eq!(kv.get("lone").await.unwrap(), Some(b"record".to_vec()), "nothing was taken");
    // An empty {} is no tag: the whole key is hashed.
    assert!(kv.take_and_mark("a{}", "b{}", b"id", ttl).await.is_err());
}

async fn many_keys_across_slots_are_set_together(kv: Arc<dyn Kv>) {
    // Keys of every shape land on every node of a cluster; each is set.
    let entries: Vec<_> =
        (0..200).map(|n| (format!("tombstone-{n}"), n.to_string().into_bytes(), Duration::from_secs(60))).collect();
    kv.set_many(&entries).await.unwrap();
    for (key, value, _) in &entries {
        assert_eq!(kv.get(key).await.unwrap().as_ref(), Some(value), "{key}");
        assert!(kv.ttl(key).await.unwrap().is_some_and(|ttl| ttl > Duration::from_secs(50)));
    }
    kv.set_many(&[]).await.unwrap();
}

async fn concurrent_reservations_never_pass_the_limit(kv: Arc<dyn Kv>) {
    let window = Duration::from_secs(60);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.reserve("slots", 5, window).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(count) => {
                assert!((1..=5).contains(&count), "{count}");
                granted += 1;
            }
            Err(retry_after) => assert!(retry_after <= window && retry_after > Duration::ZERO),
        }
    }
    assert_eq!(granted, 5, "exactly the limit is granted");
}

async fn released_slots_are_taken_again(kv: Arc<dyn Kv>) {
    let window = Duration::from_secs(60);
    assert_eq!(kv.reserve("r", 2, window).await.unwrap(), Ok(1));
    assert_eq!(kv.reserve("r", 2, window).await.unwrap(), Ok(2));
    assert!(kv.reserve("r", 2, window).await.unwrap().is_err());
    kv.release("r").await.unwrap();
    assert_eq!(kv.reserve("r", 2, window).await.unwrap(), Ok(2));
    // Releasing what is not there neither creates a window nor goes below zero.
    kv.release("never").await.unwrap();
    kv.release("never").await.unwrap();
    assert_eq!(kv.ttl("never").await.unwrap(), None);
    assert_eq!(kv.reserve("never", 1, window).await.unwrap(), Ok(1));
}

async fn replace_is_compare_and_set(kv: Arc<dyn Kv>) {
    kv.set("cas", b"old", Duration::from_secs(60)).await.unwrap();
    assert!(!kv.replace("cas", b"other", b"new", Duration::from_secs(60)).await.unwrap());
    assert!(kv.replace("cas", b"old", b"new", Duration::from_secs(60)).await.unwrap());
    assert_eq!(kv.get("cas").await.unwrap(), Some(b"new".to_vec()));
    assert!(!kv.replace("missing", b"old", b"new", Duration::from_secs(60)).await.unwrap(), "no entry, no write");
    kv.set_many(&[
        ("m1".to_owned(), b"1".to_vec(), Duration::from_secs(60)),
        ("m2".to_owned(), b"2".to_vec(), Duration::from_secs(60)),
    ])
    .await
    .unwrap();
    assert_eq!(kv.get("m2").await.unwrap(), Some(b"2".to_vec()));
}

async fn restore_puts_a_taken_key_back_once(kv: Arc<dyn Kv>) {
    kv.set("code:{c}", b"record", Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        kv.take_and_mark("code:{c}", "used:{c}", b"mark", Duration::from_secs(60)).await.unwrap(),
        Taken::Value(b"record".to_vec())
    );
    assert!(
        !kv.restore("code:{c}", b"record", Duration::from_secs(60), "used:{c}", b"other").await.unwrap(),
        "another mark"
    );
    assert!(kv.restore("code:{c}", b"record", Duration::from_secs(60), "used:{c}", b"mark").await.unwrap());
    assert_eq!(kv.get("code:{c}").await.unwrap(), Some(b"record".to_vec()));
    assert_eq!(kv.get("used:{c}").await.unwrap(), None, "the mark is gone");
    assert!(!kv.restore("code:{c}", b"record", Duration::from_secs(60), "used:{c}", b"mark").await.unwrap(), "once");
    // Taken again: a single use as before.
    assert_eq!(
        kv.take_and_mark("code:{c}", "used:{c}", b"mark", Duration::from_secs(60)).await.unwrap(),
        Taken::Value(b"record".to_vec())
    );
}

async fn set_if_absent_never_overwrites(kv: Arc<dyn Kv>) {
    assert!(kv.set_if_absent("nx", b"first", Duration::from_secs(60)).await.unwrap());
    assert!(!kv.set_if_absent("nx", b"second", Duration::from_secs(60)).await.unwrap());
    assert_eq!(kv.get("nx").await.unwrap(), Some(b"first".to_vec()));
}

async fn set_get_delete(kv: Arc<dyn Kv>) {
    assert_eq!(kv.get("a").await.unwrap(), None);
    kv.set("a", b"1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), Some(b"1".to_vec()));
    let ttl = kv.ttl("a").await.unwrap().unwrap();
    assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(50));
    kv.delete("a").await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert_eq!(kv.ttl("a").await.unwrap(), None);
    kv.ping().await.unwrap();
}

async fn values_expire(kv: Arc<dyn Kv>) {
    kv.set("short", b"x", Duration::from_millis(50)).await.unwrap();
    // Poll until expiry instead of sleeping a fixed time: bounded, not timed.
    let mut gone = false;
    for _ in 0..100 {
        if kv.get("short").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "value never expired");
    assert_eq!(kv.take("short").await.unwrap(), None);
}

async fn take_returns_once(kv: Arc<dyn Kv>) {
    kv.set("t", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(kv.take("t").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(kv.take("t").await.unwrap(), None);
}

async fn take_and_mark_reports_replays(kv: Arc<dyn Kv>) {
    let ttl = Duration::from_secs(60);
    assert_eq!(kv.take_and_mark("code:{c}", "used:{c}", b"id-1", ttl).await.unwrap(), Taken::Missing);
    kv.set("code:{c}", b"record", ttl).await.unwrap();
    assert_eq!(kv.take_and_mark("code:{c}", "used:{c}", b"id-1", ttl).await.unwrap(), Taken::Value(b"record".to_vec()));
    assert_eq!(kv.take_and_mark("code:{c}", "used:{c}", b"id-2", ttl).await.unwrap(), Taken::Marked(b"id-1".to_vec()));
}

async fn concurrent_take_and_mark_has_exactly_one_winner(kv: Arc<dyn Kv>) {
    kv.set("race:{r}", b"record", Duration::from_secs(60)).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(
                async move { kv.take_and_mark("race:{r}", "race-used:{r}", b"id", Duration::from_secs(60)).await },
            )
        })
        .collect();
    let mut winners = 0;
    let mut replays = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Taken::Value(_) => winners += 1,
            Taken::Marked(_) => replays += 1,
            Taken::Missing => panic!("a taker saw neither the value nor the marker"),
        }
    }
    assert_eq!((winners, replays), (1, 63));
}

async fn incr_counts_within_a_window(kv: Arc<dyn Kv>) {
    let window = Duration::from_secs(60);
    assert_eq!(kv.incr("n", window).await.unwrap(), 1);
    assert_eq!(kv.incr("n", window).await.unwrap(), 2);
    assert_eq!(kv.incr("n", window).await.unwrap(), 3);
    assert!(kv.ttl("n").await.unwrap().is_some());
}

#[tokio::test]
async fn prefixes_isolate_tests() {
    let a = test_kv(CacheBackend::Redis).await;
    let b = test_kv(CacheBackend::Redis).await;
    a.set("k", b"a", Duration::from_secs(60)).await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
}
