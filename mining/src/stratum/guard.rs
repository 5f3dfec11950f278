//! Defence of the Stratum port: per-address connection caps, bad-submit scoring, bans, and the
//! cap on distinct payout addresses (docs/security.md, section "Stratum").
//!
//! Every submit the server hashes costs it one proof-of-work hash (~0.26 ms of scrypt), whether
//! or not the result meets the connection's target, and the 100 requests per second a
//! connection may send would be 26 ms of CPU per second and connection. An honest miner only
//! sends results that meet its target (its firmware checks before it submits), so a connection
//! whose submits keep failing is either broken or attacking; either way it costs the node
//! without ever paying it. [`Score`] keeps the account per connection (Monero P2Pool's bad-share
//! scoring, with a throttling stage before the ban), [`IpGuard`] carries it across the
//! connections of one address and bans addresses that run it out, and [`PayoutSlots`] caps the
//! payout addresses whose jobs the node rebuilds on every change of work.

use otedama_consensus::PayoutScript;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Connections one address (an IPv4 address, an IPv6 /64) may hold at once, unless configured.
/// What it defends: one address filling the server's 20,000 connection slots (and as many file
/// descriptors and session tasks). What it costs: a farm behind one NAT shows up as one
/// address, so the cap must leave room for a large farm's rigs, one connection each; 256 is a
/// rack of rigs more than most farms point at one node. A larger farm raises it, or runs a
/// Stratum proxy. Loopback is not exempt: a local TLS terminator or SSH tunnel makes every
/// remote client 127.0.0.1, and exempting it would exempt them all.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

/// How long an address whose connection ran out its score stays banned, unless configured:
/// Monero P2Pool's default. Long enough that an attacker's reconnects cost it more waiting than
/// they cost the node (each new connection gets a few hashed submits before it is throttled),
/// short enough that a farm whose misconfigured rig got its address banned is back within
/// minutes of the fix.
pub const DEFAULT_BAN_DURATION: Duration = Duration::from_secs(600);

/// Distinct payout addresses the node serves at once (connections authorized for them are
/// open), unless configured; the node's own `--payout-address` does not count. Each one costs a
/// job built for it on every change of work (share job, coinbase, merkle branch), and every job
/// takes one of the job board's [`crate::board::RECENT_JOBS`] slots that keep jobs findable by
/// id. With 512 payouts a job stays findable for `4096 / 512 = 8` changes of work (over a minute
/// at a 10 s share period) before its late submits become error 21; more payouts would expire
/// honest work and multiply the rebuild cost. Beyond it, a new address gets error 24 saying why.
pub const DEFAULT_MAX_PAYOUTS: usize = crate::board::RECENT_JOBS / 8;

/// Addresses remembered for a ban or a carried debt (beside those with open connections, which
/// `max_connections` bounds). About 100 bytes each: 10,000 is a megabyte. When full, the entry
/// that would be forgotten first is dropped, so an attacker with more addresses than this gets
/// an old ban lifted early, never more memory.
pub const MAX_TRACKED_IPS: usize = 10_000;

/// Score credit of an accepted submit (P2Pool's `GOOD_SHARE_POINTS`): proof that the
/// connection hashes for real, since meeting even the easiest target costs the miner at least
/// as many hashes as checking it costs the node.
pub const GOOD_SUBMIT_CREDIT: i32 = 1;
/// Score cost of a submit no honest miner sends (P2Pool's `BAD_SHARE_POINTS`): a hash above
/// the target, a duplicate, a malformed submit, a job this connection was never sent. Five
/// times a credit, so a rig is in debt only when more than 1 submit in 6 is bad, far above any
/// hardware-error rate a miner would keep running with.
pub const BAD_SUBMIT_COST: i32 = 5;
/// Most credit a connection saves up: a rig that has proven itself rides out a burst of
/// `100 / 5 = 20` bad submits (a glitch after a firmware or clock hiccup) without being
/// throttled, yet credit cannot be banked to pay for a flood later.
pub const MAX_CREDIT: i32 = 100;
/// At or below this score a connection is throttled: after each bad submit the server stops
/// reading from it for [`THROTTLE_PAUSE`]. Three bad submits in a row from a fresh connection
/// (P2Pool's ban threshold), so an attacker gets three hashes before the brake.
pub const THROTTLE_SCORE: i32 = -3 * BAD_SUBMIT_COST;
/// At or below this score the connection is closed and its address banned: ten bad submits in
/// a row, seven of them throttled (seven seconds), so a rig that recovers has time to earn
/// credit back, and a flood is cut off after ten hashes per connection.
pub const BAN_SCORE: i32 = -10 * BAD_SUBMIT_COST;
/// Reading stops this long after each bad submit of a throttled connection: one hashed submit
/// per second (0.26 ms of scrypt, 0.03 % of a core) instead of the 100 the rate limit allows.
/// TCP flow control then holds the sender back at no cost to the node; an honest rig's valid
/// results wait a second, they are not lost.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// After the announced difficulty rises, a submit that misses it but meets the difficulty in
/// force before is not scored for this long: some firmwares apply a new difficulty only to their
/// next batch of work, and results in flight cross the announcement. It still gets error 23.
pub const DIFFICULTY_GRACE: Duration = Duration::from_secs(60);
/// A closing connection's unpaid debt is carried to the next connection from its address for
/// this long, so reconnecting does not wipe the slate (each fresh connection would otherwise
/// get its three hashes before the brake again).
pub const DEBT_MEMORY: Duration = DEFAULT_BAN_DURATION;

/// How a submit counts for the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Good,
    /// Refused, but honest miners get this too (a stale job, a difficulty change in flight).
    Honest,
    /// Refused for something no honest miner sends.
    Bad,
}

/// What a connection's score says to do after a submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Fine,
    /// Stop reading for [`THROTTLE_PAUSE`].
    Throttled,
    /// Close and ban the address.
    Banned,
}

/// A connection's account in integer points: credit for accepted submits (up to
/// [`MAX_CREDIT`]), debt for bad ones. Pure: the session feeds it verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Score(i32);

impl Score {
    /// A fresh connection, starting with the debt its address carried (never so deep that the
    /// first submit bans: one more bad submit does).
    pub fn new(carried: i32) -> Score {
        Score(carried.clamp(BAN_SCORE + BAD_SUBMIT_COST, 0))
    }

    pub fn value(self) -> i32 {
        self.0
    }

    /// Accounts one submit.
    pub fn record(&mut self, verdict: Verdict) -> Standing {
        match verdict {
            Verdict::Good => {
                self.0 = self.0.saturating_add(GOOD_SUBMIT_CREDIT).min(MAX_CREDIT);
                Standing::Fine
            }
            Verdict::Honest => Standing::Fine,
            Verdict::Bad => {
                self.0 = self.0.saturating_sub(BAD_SUBMIT_COST).max(BAN_SCORE);
                if self.0 <= BAN_SCORE {
                    Standing::Banned
                } else if self.0 <= THROTTLE_SCORE {
                    Standing::Throttled
                } else {
                    Standing::Fine
                }
            }
        }
    }
}

/// The unit of per-address accounting: an IPv4 address, or the /64 of an IPv6 address (one
/// subscriber's LAN; the 64 low bits are the host's to choose). IPv4-mapped IPv6 addresses (a
/// dual-stack listener) count as their IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpKey {
    V4([u8; 4]),
    V6Net([u8; 8]),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut net = [0u8; 8];
                    net.copy_from_slice(&o[..8]);
                    IpKey::V6Net(net)
                }
            },
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address holds `max_connections_per_ip` connections.
    PerIpLimit,
    /// The address is banned.
    Banned,
}

#[derive(Clone, Copy, Debug)]
struct IpEntry {
    connections: u32,
    banned_until: Option<Instant>,
    /// Unpaid score (<= 0) left by closed connections, and when it was left.
    debt: i32,
    debt_at: Instant,
}

impl IpEntry {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| now < t)
    }

    fn debt(&self, now: Instant) -> i32 {
        if now.saturating_duration_since(self.debt_at) < DEBT_MEMORY {
            self.debt
        } else {
            0
        }
    }

    /// Nothing left to remember.
    fn idle(&self, now: Instant) -> bool {
        self.connections == 0 && !self.banned(now) && self.debt(now) == 0
    }

    /// When this entry would be forgotten with no open connection.
    fn forgotten_at(&self) -> Instant {
        let d = self.debt_at + DEBT_MEMORY;
        self.banned_until.map_or(d, |b| b.max(d))
    }
}

/// Per-address state shared by the listener and every session: open connections, bans and
/// carried debt, bounded as [`MAX_TRACKED_IPS`] says.
pub struct IpGuard {
    max_per_ip: usize,
    /// `max_connections + MAX_TRACKED_IPS`.
    cap: usize,
    ban_duration: Duration,
    table: Mutex<HashMap<IpKey, IpEntry>>,
}

impl IpGuard {
    /// `ban_duration` zero: connections that run out their score are closed, nobody is banned.
    /// `max_connections`: the server's cap on open connections.
    pub fn new(max_per_ip: usize, ban_duration: Duration, max_connections: usize) -> IpGuard {
        IpGuard {
            max_per_ip,
            cap: max_connections.saturating_add(MAX_TRACKED_IPS),
            ban_duration,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpKey, IpEntry>> {
        // Every update is a few assignments; a panic elsewhere cannot leave it inconsistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip` (counted until the permit drops), or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<IpPermit, Refusal> {
        let key = IpKey::from(ip);
        let mut t = self.lock();
        let e = t.entry(key).or_insert(IpEntry {
            connections: 0,
            banned_until: None,
            debt: 0,
            debt_at: now,
        });
        let refusal = if e.banned(now) {
            Some(Refusal::Banned)
        } else if e.connections as usize >= self.max_per_ip {
            Some(Refusal::PerIpLimit)
        } else {
            None
        };
        if let Some(r) = refusal {
            if e.idle(now) {
                t.remove(&key);
            }
            return Err(r);
        }
        e.connections += 1;
        // The debt moves to this connection: whoever reconnects first pays it.
        let carried = e.debt(now);
        e.debt = 0;
        Ok(IpPermit {
            guard: self.clone(),
            key,
            carried,
            left_debt: 0,
        })
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock()
            .get(&IpKey::from(ip))
            .is_some_and(|e| e.banned(now))
    }

    /// Bans `key` for the configured duration (or renews its ban); `None` when bans are off,
    /// else whether the address was not banned before.
    fn ban(&self, key: IpKey, now: Instant) -> Option<bool> {
        if self.ban_duration.is_zero() {
            return None;
        }
        let until = now + self.ban_duration;
        let mut t = self.lock();
        let e = t.entry(key).or_insert(IpEntry {
            connections: 0,
            banned_until: None,
            debt: 0,
            debt_at: now,
        });
        let new = !e.banned(now);
        e.banned_until = Some(until);
        make_room(&mut t, self.cap, now);
        Some(new)
    }

    fn release(&self, key: IpKey, left_debt: i32, now: Instant) {
        let mut t = self.lock();
        let Some(e) = t.get_mut(&key) else {
            return;
        };
        e.connections = e.connections.saturating_sub(1);
        if left_debt < 0 {
            e.debt = e.debt(now).saturating_add(left_debt).max(BAN_SCORE);
            e.debt_at = now;
        }
        if e.idle(now) {
            t.remove(&key);
        }
        make_room(&mut t, self.cap, now);
    }

    /// Addresses remembered now (open connections, bans, debts): for tests and bounds checks.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Keeps the table within `cap` entries: drops what is over first, then the connection-less
/// entries that would be forgotten first. Entries with open connections are never dropped
/// (there are at most `max_connections` of them, below `cap`).
fn make_room(t: &mut HashMap<IpKey, IpEntry>, cap: usize, now: Instant) {
    if t.len() <= cap {
        return;
    }
    t.retain(|_, e| !e.idle(now));
    while t.len() > cap {
        let Some(oldest) = t
            .iter()
            .filter(|(_, e)| e.connections == 0)
            .min_by_key(|(_, e)| e.forgotten_at())
            .map(|(k, _)| *k)
        else {
            return;
        };
        t.remove(&oldest);
    }
}

/// One admitted connection of an address; released when dropped, leaving its debt behind.
pub struct IpPermit {
    guard: Arc<IpGuard>,
    key: IpKey,
    carried: i32,
    left_debt: i32,
}

impl IpPermit {
    /// The debt this connection inherited from earlier connections of its address (<= 0).
    pub fn carried(&self) -> i32 {
        self.carried
    }

    /// The score this connection leaves when it closes (only debt is carried).
    pub fn leave(&mut self, score: Score) {
        self.left_debt = score.value().min(0);
    }

    /// Bans this connection's address (or renews its ban): `None` when bans are off, else
    /// whether the address is newly banned. Its own debt is not carried (the ban outlasts it).
    pub fn ban(&mut self, now: Instant) -> Option<bool> {
        self.left_debt = 0;
        self.guard.ban(self.key, now)
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        self.guard.release(self.key, self.left_debt, Instant::now());
    }
}

/// Distinct payout addresses with authorized connections, capped (see [`DEFAULT_MAX_PAYOUTS`]).
pub struct PayoutSlots {
    max: usize,
    default_payout: PayoutScript,
    held: Mutex<HashMap<PayoutScript, u32>>,
}

impl PayoutSlots {
    pub fn new(max: usize, default_payout: PayoutScript) -> PayoutSlots {
        PayoutSlots {
            max,
            default_payout,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PayoutScript, u32>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one connection paying `payout`: always for the node's own payout and for
    /// payouts already served, otherwise only below the cap. `None`: the cap is reached.
    pub fn acquire(self: &Arc<Self>, payout: &PayoutScript) -> Option<PayoutSlot> {
        if *payout == self.default_payout {
            return Some(PayoutSlot {
                slots: self.clone(),
                payout: None,
            });
        }
        let mut held = self.lock();
        let len = held.len();
        match held.get_mut(payout) {
            Some(n) => *n += 1,
            None if len < self.max => {
                held.insert(payout.clone(), 1);
            }
            None => return None,
        }
        Some(PayoutSlot {
            slots: self.clone(),
            payout: Some(payout.clone()),
        })
    }

    /// Distinct payouts served now (the node's own not counted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// A connection's hold on its payout address; released when dropped.
pub struct PayoutSlot {
    slots: Arc<PayoutSlots>,
    payout: Option<PayoutScript>,
}

impl Drop for PayoutSlot {
    fn drop(&mut self) {
        let Some(p) = self.payout.take() else {
            return;
        };
        let mut held = self.slots.lock();
        if let Some(n) = held.get_mut(&p) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn junk_is_throttled_after_three_and_banned_after_ten() {
        let mut s = Score::new(0);
        let standings: Vec<Standing> = (0..10).map(|_| s.record(Verdict::Bad)).collect();
        assert_eq!(&standings[..2], &[Standing::Fine; 2]);
        assert_eq!(&standings[2..9], &[Standing::Throttled; 7]);
        assert_eq!(standings[9], Standing::Banned);
    }

    #[test]
    fn credit_is_capped_and_honest_refusals_are_free() {
        let mut s = Score::new(0);
        for _ in 0..1000 {
            assert_eq!(s.record(Verdict::Good), Standing::Fine);
            assert_eq!(s.record(Verdict::Honest), Standing::Fine);
        }
        assert_eq!(s.value(), MAX_CREDIT);
        // Saved credit buys 20 bad submits, then the brake comes as for a fresh connection.
        let until_throttled = (0..100)
            .take_while(|_| s.record(Verdict::Bad) == Standing::Fine)
            .count();
        assert_eq!(until_throttled, 22);
    }

    #[test]
    fn carried_debt_never_bans_on_arrival_but_the_next_bad_submit_does() {
        let mut s = Score::new(i32::MIN);
        assert_eq!(s.value(), BAN_SCORE + BAD_SUBMIT_COST);
        assert_eq!(s.record(Verdict::Bad), Standing::Banned);
        assert_eq!(Score::new(7).value(), 0, "credit is not carried");
    }

    proptest! {
        /// A miner whose submits are at most one in seven bad (a broken rig losing one result in
        /// seven is far worse than real hardware), in any order and mixed with any number of
        /// stale and in-flight refusals, is never banned and never throttled once it has
        /// submitted a few good results.
        #[test]
        fn honest_patterns_are_never_banned(
            pattern in proptest::collection::vec(0u8..14, 1..2000),
        ) {
            let mut s = Score::new(0);
            let mut good = 0u32;
            let mut bad = 0u32;
            for p in pattern {
                let v = match p {
                    0 if good >= 6 * (bad + 1) => Verdict::Bad,
                    0..=3 => Verdict::Honest,
                    _ => Verdict::Good,
                };
                match v {
                    Verdict::Good => good += 1,
                    Verdict::Bad => bad += 1,
                    Verdict::Honest => {}
                }
                prop_assert_eq!(s.record(v), Standing::Fine, "good {} bad {}", good, bad);
            }
        }

        /// Whatever an attacker interleaves, every bad submit beyond what its accepted ones
        /// paid for brings the ban closer: with at most one good submit per `BAD_SUBMIT_COST`
        /// bad ones it is banned within a bounded number of bad submits.
        #[test]
        fn junk_is_banned_whatever_it_mixes_in(
            mix in proptest::collection::vec(0u8..10, 0..500),
        ) {
            let mut s = Score::new(0);
            let mut bad = 0u32;
            let mut banned = false;
            for (i, m) in mix.iter().cycle().take(5000).enumerate() {
                let v = if i % (BAD_SUBMIT_COST as usize + 1) == 0 && *m == 0 {
                    Verdict::Good
                } else if *m < 3 {
                    Verdict::Honest
                } else {
                    Verdict::Bad
                };
                if v == Verdict::Bad {
                    bad += 1;
                }
                if s.record(v) == Standing::Banned {
                    banned = true;
                    break;
                }
            }
            prop_assert!(banned || bad < 10, "bad {}", bad);
            prop_assert!(bad <= 200, "banned only after {} bad submits", bad);
        }
    }

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn per_ip_limit_counts_v4_and_v6_slash_64() {
        let g = Arc::new(IpGuard::new(2, DEFAULT_BAN_DURATION, 100));
        let now = t0();
        let a: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
        let p1 = g.admit(a, now).unwrap();
        let _p2 = g.admit(a, now).unwrap();
        assert_eq!(g.admit(a, now).err(), Some(Refusal::PerIpLimit));
        // The same address through a dual-stack listener.
        let mapped: IpAddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into();
        assert_eq!(g.admit(mapped, now).err(), Some(Refusal::PerIpLimit));
        assert!(g.admit(Ipv4Addr::new(10, 0, 0, 2).into(), now).is_ok());
        drop(p1);
        assert!(g.admit(a, now).is_ok());
        let v6 = |last: u16| -> IpAddr { Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last).into() };
        let _q1 = g.admit(v6(1), now).unwrap();
        let _q2 = g.admit(v6(2), now).unwrap();
        assert_eq!(g.admit(v6(3), now).err(), Some(Refusal::PerIpLimit));
        let other_net: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1).into();
        assert!(g.admit(other_net, now).is_ok());
    }

    #[test]
    fn bans_expire_and_debt_is_carried_then_forgotten() {
        let g = Arc::new(IpGuard::new(10, Duration::from_secs(600), 10));
        let now = t0();
        let a: IpAddr = Ipv4Addr::new(192, 0, 2, 7).into();
        let mut p = g.admit(a, now).unwrap();
        assert_eq!(p.carried(), 0);
        let mut s = Score::new(p.carried());
        s.record(Verdict::Bad);
        s.record(Verdict::Bad);
        p.leave(s);
        drop(p);
        // The next connection inherits the debt, the one after it nothing.
        let p = g.admit(a, now).unwrap();
        assert_eq!(p.carried(), -2 * BAD_SUBMIT_COST);
        let q = g.admit(a, now).unwrap();
        assert_eq!(q.carried(), 0);
        drop((p, q));
        assert_eq!(g.tracked(), 0, "nothing left to remember");

        let mut p = g.admit(a, now).unwrap();
        p.leave(Score::new(-20));
        drop(p);
        let later = now + DEBT_MEMORY + Duration::from_secs(1);
        assert_eq!(g.admit(a, later).unwrap().carried(), 0, "debt forgotten");

        let mut p = g.admit(a, now).unwrap();
        let mut q = g.admit(a, now).unwrap();
        assert_eq!(p.ban(now), Some(true));
        assert_eq!(q.ban(now), Some(false), "renewed, not a new ban");
        drop(q);
        assert!(g.is_banned(a, now));
        assert_eq!(g.admit(a, now).err(), Some(Refusal::Banned));
        drop(p);
        let after_ban = now + Duration::from_secs(601);
        assert!(!g.is_banned(a, after_ban));
        assert!(g.admit(a, after_ban).is_ok());

        let off = Arc::new(IpGuard::new(10, Duration::ZERO, 10));
        let mut p = off.admit(a, now).unwrap();
        assert_eq!(p.ban(now), None);
        assert!(off.admit(a, now).is_ok());
    }

    #[test]
    fn remembered_addresses_are_bounded() {
        let g = Arc::new(IpGuard::new(10, Duration::from_secs(600), 10));
        let now = t0();
        for i in 0..(MAX_TRACKED_IPS as u32 + 500) {
            let ip: IpAddr = Ipv4Addr::from(0x0a00_0000 + i).into();
            let mut p = g.admit(ip, now + Duration::from_millis(i as u64)).unwrap();
            p.ban(now + Duration::from_millis(i as u64));
        }
        assert!(g.tracked() <= MAX_TRACKED_IPS + 10, "{}", g.tracked());
        // The newest ban is kept, the oldest made room.
        let newest: IpAddr = Ipv4Addr::from(0x0a00_0000 + MAX_TRACKED_IPS as u32 + 499).into();
        assert!(g.is_banned(newest, now + Duration::from_secs(1)));
        assert!(!g.is_banned(Ipv4Addr::from(0x0a00_0000).into(), now));
    }

    #[test]
    fn payout_slots_cap_new_addresses_only() {
        let own = PayoutScript::new(&[0x51]);
        let slots = Arc::new(PayoutSlots::new(2, own.clone()));
        let p = |b: u8| PayoutScript::new(&[0x00, 0x14, b]);
        let a1 = slots.acquire(&p(1)).unwrap();
        let _a2 = slots.acquire(&p(1)).unwrap();
        let b = slots.acquire(&p(2)).unwrap();
        assert!(
            slots.acquire(&p(3)).is_none(),
            "a third address is over the cap"
        );
        assert!(
            slots.acquire(&p(1)).is_some(),
            "a served address always fits"
        );
        assert!(
            slots.acquire(&own).is_some(),
            "the node's own payout never counts"
        );
        assert_eq!(slots.len(), 2);
        drop(b);
        assert!(slots.acquire(&p(3)).is_some());
        drop(a1);
        assert_eq!(slots.len(), 1, "p(1) still held by a second connection");
    }
}
