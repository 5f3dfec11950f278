//! Peer scores, bans and rate limits: pure bookkeeping, no I/O (the swarm task acts on the
//! verdicts). A peer starts at 0; offences cost points; points come back slowly with time; a
//! peer at or below [`BAN_SCORE`] is disconnected and refused for [`BAN_DURATION`].

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A peer at or below this score is banned.
pub const BAN_SCORE: i32 = -100;
/// How long a ban lasts: long enough that a misbehaving node gives up, short enough that an
/// honest node with a bug is back after an upgrade.
pub const BAN_DURATION: Duration = Duration::from_secs(3600);
/// Points a peer regains per minute of good behaviour, up to 0.
pub const RECOVERY_PER_MINUTE: i32 = 5;
/// Most peers tracked (connected ones plus recent offenders); the oldest non-banned entries are
/// dropped beyond it.
pub const MAX_TRACKED: usize = 4096;

/// Gossip messages a peer may send before we stop taking them: a burst of 400, then 200 per
/// second. Honest peers forward each share once, and each found block once more: a few a second
/// on real pools, but a regtest or test pool at the floor difficulty runs at tens of shares a
/// second (and half of them are blocks), and honest nodes must never fall over that line.
pub const GOSSIP_RATE: Rate = Rate {
    burst: 400,
    per_second: 200,
};
/// Traffic over a rate limit is dropped without cost to the sender (an honest node under load,
/// or after a partition heals, bursts); only a peer that keeps sending at more than this many
/// times the limit is abusive, and that costs it [`Offence::Flood`].
pub const ABUSE_FACTOR: u32 = 10;
/// Requests a peer may make: a syncing peer keeps 4 requests of 64 shares in flight and asks
/// again as soon as one is answered, so its rate is bounded by how fast it validates (~8,000
/// shares/s, 125 requests/s); 200 per second leaves room. Beyond it requests are answered
/// `Busy` (no cost); beyond [`ABUSE_FACTOR`] times it they are an offence.
pub const REQUEST_RATE: Rate = Rate {
    burst: 400,
    per_second: 200,
};

/// Identify messages a peer may send: one when it connects, one every 5 minutes and a push when
/// its addresses change. Each one updates the routing table and the stored address book, so a
/// peer pushing them in a loop would make the node write to disk in a loop: 5 in a burst, then
/// one a second; beyond that the message is ignored, and far beyond it is a flood.
pub const IDENTIFY_RATE: Rate = Rate {
    burst: 5,
    per_second: 1,
};

/// Reply bytes a peer's requests may cost us: a burst of 32 MiB (a few full `GetShares`
/// batches), then 8 MiB a second. A request is cheap to send and its reply can be 8 MiB, so the
/// request count alone would let a peer make the node upload 200 x 8 MiB a second; this charges
/// each reply's size to the peer that asked. Honest sync takes about 4,000 typical shares a
/// second from one peer within it, and takes the rest from its other peers. Over it, requests
/// are answered `Busy` at no cost (the bytes were already paid for).
pub const UPLOAD_BYTES: Rate = Rate {
    burst: 32 << 20,
    per_second: 8 << 20,
};

#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub burst: u32,
    pub per_second: u32,
}

impl Rate {
    /// The rate over which a peer is abusive.
    pub const fn abusive(self) -> Rate {
        Rate {
            burst: self.burst * ABUSE_FACTOR,
            per_second: self.per_second * ABUSE_FACTOR,
        }
    }
}

/// What to do with one message or request of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admit {
    /// Within the rate.
    Take,
    /// Over the rate: drop it (or answer `Busy`), at no cost to the peer.
    Throttle,
    /// Far over the rate ([`ABUSE_FACTOR`]): drop it and penalise [`Offence::Flood`].
    Abuse,
}

/// What a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// A share that breaks a consensus rule (bad proof of work, payouts, difficulty...).
    InvalidShare,
    /// Bytes that are not a message or a share.
    Malformed,
    /// A peer of another pool: refused at once.
    WrongPool,
    /// Over a rate limit.
    Flood,
    /// Data we did not ask for, or a reply that contradicts itself.
    Unrequested,
    /// A request that timed out or failed.
    Unresponsive,
    /// A sync reply that advertised shares the peer then did not serve, or a claim of more work
    /// with nothing to show for it: the fake best tip that would stall sync.
    Useless,
}

impl Offence {
    pub fn penalty(self) -> i32 {
        match self {
            Offence::InvalidShare => 100,
            Offence::Malformed => 50,
            Offence::WrongPool => 1000,
            Offence::Flood => 10,
            Offence::Unrequested => 20,
            Offence::Unresponsive => 2,
            Offence::Useless => 20,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Offence::InvalidShare => "invalid_share",
            Offence::Malformed => "malformed",
            Offence::WrongPool => "wrong_pool",
            Offence::Flood => "flood",
            Offence::Unrequested => "unrequested",
            Offence::Unresponsive => "unresponsive",
            Offence::Useless => "useless",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Disconnect and refuse until the ban expires.
    Ban,
}

#[derive(Clone, Debug)]
struct Bucket {
    tokens: u32,
    last: Instant,
}

impl Bucket {
    fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            last: now,
        }
    }

    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis();
        let refill = elapsed_ms * rate.per_second as u128 / 1000;
        if refill > 0 {
            self.tokens = (self.tokens as u128 + refill).min(rate.burst as u128) as u32;
            self.last = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// A byte budget that replies are charged against after they are built: it may run into debt
/// (down to minus one burst), and requests wait until it is positive again.
#[derive(Clone, Debug)]
struct ByteBudget {
    tokens: i64,
    last: Instant,
}

impl ByteBudget {
    fn new(rate: Rate, now: Instant) -> ByteBudget {
        ByteBudget {
            tokens: rate.burst as i64,
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis();
        let refill = (elapsed_ms * rate.per_second as u128 / 1000).min(i64::MAX as u128) as i64;
        if refill > 0 {
            self.tokens = self.tokens.saturating_add(refill).min(rate.burst as i64);
            self.last = now;
        }
    }

    fn available(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens > 0
    }

    fn charge(&mut self, rate: Rate, bytes: u64, now: Instant) {
        self.refill(rate, now);
        let bytes = bytes.min(i64::MAX as u64) as i64;
        self.tokens = self.tokens.saturating_sub(bytes).max(-(rate.burst as i64));
    }
}

#[derive(Clone, Debug)]
struct PeerState {
    score: i32,
    scored_at: Instant,
    gossip: Bucket,
    requests: Bucket,
    upload: ByteBudget,
    identify: Bucket,
    identify_over: Bucket,
    /// What the peer may send over its rate before it is abusive.
    gossip_over: Bucket,
    requests_over: Bucket,
}

/// Scores and bans of every peer we know.
#[derive(Debug)]
pub struct Scores<K> {
    peers: HashMap<K, PeerState>,
    banned: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Copy> Default for Scores<K> {
    fn default() -> Self {
        Scores {
            peers: HashMap::new(),
            banned: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Copy> Scores<K> {
    fn state(&mut self, peer: K, now: Instant) -> &mut PeerState {
        if self.peers.len() >= MAX_TRACKED && !self.peers.contains_key(&peer) {
            // Forget the best-behaved entry: offenders are the ones worth remembering.
            if let Some(k) = self
                .peers
                .iter()
                .max_by_key(|(_, s)| s.score)
                .map(|(k, _)| *k)
            {
                self.peers.remove(&k);
            }
        }
        let st = self.peers.entry(peer).or_insert_with(|| PeerState {
            score: 0,
            scored_at: now,
            gossip: Bucket::new(GOSSIP_RATE, now),
            requests: Bucket::new(REQUEST_RATE, now),
            upload: ByteBudget::new(UPLOAD_BYTES, now),
            identify: Bucket::new(IDENTIFY_RATE, now),
            identify_over: Bucket::new(IDENTIFY_RATE.abusive(), now),
            gossip_over: Bucket::new(GOSSIP_RATE.abusive(), now),
            requests_over: Bucket::new(REQUEST_RATE.abusive(), now),
        });
        let minutes = now.saturating_duration_since(st.scored_at).as_secs() / 60;
        if minutes > 0 {
            let gain = (minutes as i64 * RECOVERY_PER_MINUTE as i64).min(i32::MAX as i64) as i32;
            st.score = st.score.saturating_add(gain).min(0);
            st.scored_at += Duration::from_secs(minutes * 60);
        }
        st
    }

    pub fn score(&mut self, peer: K, now: Instant) -> i32 {
        self.state(peer, now).score
    }

    /// Records an offence; `Ban` when the peer fell to the ban score (it is then banned).
    pub fn penalise(&mut self, peer: K, offence: Offence, now: Instant) -> Verdict {
        let st = self.state(peer, now);
        st.score = st.score.saturating_sub(offence.penalty());
        if st.score <= BAN_SCORE {
            self.ban(peer, now + BAN_DURATION);
            Verdict::Ban
        } else {
            Verdict::Keep
        }
    }

    /// Bans `peer` until `until` (the operator's `banpeer`, or a score at the threshold).
    pub fn ban(&mut self, peer: K, until: Instant) {
        self.banned.insert(peer, until);
    }

    pub fn unban(&mut self, peer: K) -> bool {
        self.peers.remove(&peer);
        self.banned.remove(&peer).is_some()
    }

    pub fn is_banned(&self, peer: &K, now: Instant) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > now)
    }

    /// Bans that ran out: removed and returned (the swarm unblocks them).
    pub fn expired_bans(&mut self, now: Instant) -> Vec<K> {
        let gone: Vec<K> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            self.banned.remove(k);
            self.peers.remove(k);
        }
        gone
    }

    pub fn banned(&self) -> impl Iterator<Item = (&K, &Instant)> {
        self.banned.iter()
    }

    /// Admits one gossip message of `peer`.
    pub fn admit_gossip(&mut self, peer: K, now: Instant) -> Admit {
        let st = self.state(peer, now);
        if st.gossip.take(GOSSIP_RATE, now) {
            Admit::Take
        } else if st.gossip_over.take(GOSSIP_RATE.abusive(), now) {
            Admit::Throttle
        } else {
            Admit::Abuse
        }
    }

    /// Admits one identify message of `peer`.
    pub fn admit_identify(&mut self, peer: K, now: Instant) -> Admit {
        let st = self.state(peer, now);
        if st.identify.take(IDENTIFY_RATE, now) {
            Admit::Take
        } else if st.identify_over.take(IDENTIFY_RATE.abusive(), now) {
            Admit::Throttle
        } else {
            Admit::Abuse
        }
    }

    /// Charges `bytes` of a reply to the peer whose request it answers.
    pub fn charge_upload(&mut self, peer: K, bytes: u64, now: Instant) {
        self.state(peer, now)
            .upload
            .charge(UPLOAD_BYTES, bytes, now);
    }

    /// Admits one request of `peer`: within its request rate and its reply-byte budget.
    pub fn admit_request(&mut self, peer: K, now: Instant) -> Admit {
        let st = self.state(peer, now);
        if !st.upload.available(UPLOAD_BYTES, now) {
            // Its replies used up the byte budget: wait, at no cost (not a flood of requests).
            return Admit::Throttle;
        }
        if st.requests.take(REQUEST_RATE, now) {
            Admit::Take
        } else if st.requests_over.take(REQUEST_RATE.abusive(), now) {
            Admit::Throttle
        } else {
            Admit::Abuse
        }
    }

    /// Forgets a disconnected peer that is in good standing (bad scores are kept until they
    /// recover, so reconnecting does not wash them).
    pub fn forget_if_clean(&mut self, peer: &K) {
        if self.peers.get(peer).is_some_and(|s| s.score >= 0) {
            self.peers.remove(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_invalid_share_bans_and_the_ban_expires() {
        let t = Instant::now();
        let mut s = Scores::default();
        assert_eq!(s.penalise(1u32, Offence::Unresponsive, t), Verdict::Keep);
        assert_eq!(s.penalise(1u32, Offence::InvalidShare, t), Verdict::Ban);
        assert!(s.is_banned(&1, t));
        assert!(!s.is_banned(&2, t));
        assert!(s.expired_bans(t + BAN_DURATION / 2).is_empty());
        assert_eq!(s.expired_bans(t + BAN_DURATION), vec![1]);
        assert!(!s.is_banned(&1, t + BAN_DURATION));
        assert_eq!(s.score(1, t + BAN_DURATION), 0);
    }

    #[test]
    fn small_offences_add_up_and_recover_with_time() {
        let t = Instant::now();
        let mut s = Scores::default();
        for _ in 0..9 {
            assert_eq!(s.penalise(7u32, Offence::Flood, t), Verdict::Keep);
        }
        assert_eq!(s.score(7, t), -90);
        // Ten minutes later 50 points are back.
        assert_eq!(s.score(7, t + Duration::from_secs(600)), -40);
        assert_eq!(s.score(7, t + Duration::from_secs(6000)), 0);
        let mut s = Scores::default();
        for _ in 0..9 {
            s.penalise(8u32, Offence::Flood, t);
        }
        assert_eq!(s.penalise(8u32, Offence::Flood, t), Verdict::Ban);
    }

    #[test]
    fn rate_limits_allow_the_burst_then_the_rate() {
        let t = Instant::now();
        let mut s = Scores::default();
        let admitted = |s: &mut Scores<u32>, n: usize, t: Instant, what: Admit| {
            (0..n).filter(|_| s.admit_gossip(1u32, t) == what).count()
        };
        assert_eq!(
            admitted(&mut s, 1000, t, Admit::Take),
            GOSSIP_RATE.burst as usize
        );
        let later = t + Duration::from_secs(1);
        let taken = (0..1000)
            .filter(|_| s.admit_gossip(1u32, later) == Admit::Take)
            .count();
        assert_eq!(taken, GOSSIP_RATE.per_second as usize);
        let taken = (0..10_000)
            .filter(|_| s.admit_request(1u32, t) == Admit::Take)
            .count();
        assert_eq!(taken, REQUEST_RATE.burst as usize);
    }

    #[test]
    fn over_the_rate_is_throttled_far_over_it_is_abuse() {
        let t = Instant::now();
        let mut s: Scores<u32> = Scores::default();
        let mut seen = std::collections::HashMap::new();
        // The first burst is taken, the next ten bursts are throttled, then it is abuse.
        let n = GOSSIP_RATE.burst * (ABUSE_FACTOR + 1) + 5;
        for _ in 0..n {
            *seen.entry(s.admit_gossip(1, t)).or_insert(0u32) += 1;
        }
        assert_eq!(seen[&Admit::Take], GOSSIP_RATE.burst);
        assert_eq!(seen[&Admit::Throttle], GOSSIP_RATE.burst * ABUSE_FACTOR);
        assert_eq!(seen[&Admit::Abuse], 5);
        // Throttling alone never costs score.
        assert_eq!(s.score(1, t), 0);
    }

    #[test]
    fn tracking_is_bounded_and_keeps_offenders() {
        let t = Instant::now();
        let mut s = Scores::default();
        s.penalise(0u32, Offence::Malformed, t);
        for k in 1..(MAX_TRACKED as u32 + 100) {
            s.admit_gossip(k, t);
        }
        assert!(s.peers.len() <= MAX_TRACKED);
        assert_eq!(s.score(0, t), -50);
    }

    #[test]
    fn identify_floods_are_ignored_then_penalised() {
        let mut s: Scores<u8> = Scores::default();
        let t0 = Instant::now();
        let verdicts: Vec<Admit> = (0..200).map(|_| s.admit_identify(1, t0)).collect();
        assert!(verdicts[..5].iter().all(|v| *v == Admit::Take));
        assert_eq!(verdicts[5], Admit::Throttle);
        assert_eq!(verdicts[199], Admit::Abuse);
        // One a second is fine.
        assert_eq!(s.admit_identify(2, t0), Admit::Take);
        for i in 1..20u64 {
            assert_eq!(
                s.admit_identify(2, t0 + Duration::from_secs(i)),
                Admit::Take
            );
        }
    }

    #[test]
    fn large_replies_use_up_the_requesters_byte_budget() {
        let mut s: Scores<u8> = Scores::default();
        let t0 = Instant::now();
        assert_eq!(s.admit_request(1, t0), Admit::Take);
        // Four 8 MiB replies: the 32 MiB burst is spent.
        for _ in 0..4 {
            s.charge_upload(1, 8 << 20, t0);
        }
        assert_eq!(s.admit_request(1, t0), Admit::Throttle);
        // Another peer is unaffected.
        assert_eq!(s.admit_request(2, t0), Admit::Take);
        // Never an offence, and the budget comes back at 8 MiB/s.
        assert_eq!(s.score(1, t0), 0);
        assert_eq!(
            s.admit_request(1, t0 + Duration::from_millis(200)),
            Admit::Take
        );
        // Debt is bounded: a huge reply does not lock a peer out for long.
        s.charge_upload(1, u64::MAX, t0 + Duration::from_millis(200));
        assert_eq!(
            s.admit_request(1, t0 + Duration::from_millis(200) + Duration::from_secs(5)),
            Admit::Take
        );
    }
}
