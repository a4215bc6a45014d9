//! The day: from 06:00 to 22:00 of simulated time, minute by minute, the
//! carriers' drivers visit buildings following a time-of-day curve (a
//! morning and an afternoon peak). At a visit the carrier announces the
//! parcels it brings (`POST /v1/deliveries`), and for each parcel the driver
//! scans it (`POST /v1/access-requests`), opens the street door with the
//! credential at the building's simulated lock, and confirms the drop
//! (`POST /v1/deliveries/{id}/complete`). Between visits, people do what
//! they do: residents block and unblock, schedule returns and give guests a
//! pass; a carrier is dropped at some buildings at noon; a driver is
//! suspended for an hour; one building in 20 loses its network from 10:00
//! to 14:00 (its lock works offline, the drivers carry its events).
//!
//! Every refusal the policy knows that a street door can produce is caused
//! on purpose, at fixed shares of the parcels (see [`Mistake`]), so the run
//! counts them and compares with the service's `/metrics`.
//!
//! The clock moves only between minutes, after every visit of the minute is
//! done: the day runs as fast as the machine answers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use doorman_api::*;
use doorman_client::{Client, ClientError};
use doorman_devices::Handheld;
use doorman_domain::RefusalReason;
use rand_core::OsRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::city::{far_from, location, City, NIGHTOWL, UNITS};
use super::locks::AtTheDoor;
use super::service::ServiceProcess;
use super::SimClock;

/// Parcels a driver brings to a building at one visit (at most).
pub const PARCELS_PER_VISIT: usize = 8;
/// The day's first and last minute of visits (minutes after midnight).
pub const DAY_START_MIN: u32 = 6 * 60;
pub const DAY_END_MIN: u32 = 22 * 60;
/// Visits per hour from 06:00 to 21:00, relative: the time-of-day curve.
const CURVE: [u32; 16] = [2, 4, 7, 10, 11, 10, 8, 7, 8, 10, 9, 7, 5, 3, 2, 1];
/// Buildings whose network is down from 10:00 to 14:00: one in this many.
pub const OFFLINE_EVERY: usize = 20;
const OUTAGE: (u32, u32) = (10 * 60, 14 * 60);
/// Buildings where Nightowl is dropped at noon: one in this many.
const DROPPED_EVERY: usize = 50;
/// Residents (one building in 10 has one) who block from 11:00 to 13:00:
/// one in this many buildings.
const BLOCK_EVERY: usize = 100;
/// ... who schedule a return (collected by Metro Parcel's next visit).
const RETURN_EVERY: usize = 100;
/// ... who give a guest a pass at 15:00 (the blockers, back from being away).
const GUEST_EVERY: usize = 100;

/// The driver's mistakes and the carriers' changes, by parcel number: each
/// causes one refusal before (or after) the parcel's own request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mistake {
    None,
    /// Scans a mistyped tracking number first: `parcel_unknown`.
    Typo,
    /// Asks with the GPS two kilometres off first: `driver_not_at_property`.
    FarAway,
    /// Asks from the spare phone first: `handheld_not_registered`.
    OtherPhone,
    /// Asks at the building next door first: `parcel_not_addressed_here`.
    NextDoor,
    /// Scans again before opening: `access_already_granted`.
    DoubleScan,
    /// Scans again after the drop: `parcel_already_delivered`.
    Rescan,
    /// The carrier cancels the parcel before the visit: `delivery_closed`.
    Cancelled,
    /// The parcel's window ended before the day began: `outside_delivery_window`.
    Late,
}

fn mistake(parcel: usize) -> Mistake {
    match parcel % 200 {
        1 | 101 => Mistake::Typo,
        2 | 102 => Mistake::FarAway,
        3 => Mistake::OtherPhone,
        4 => Mistake::NextDoor,
        5 => Mistake::DoubleScan,
        6 => Mistake::Rescan,
        7 => Mistake::Cancelled,
        8 => Mistake::Late,
        _ => Mistake::None,
    }
}

/// One visit: a carrier's driver at a building at a minute, with parcels
/// `first .. first + count`.
#[derive(Clone, Copy, Debug)]
struct Visit {
    minute: u32,
    building: u32,
    carrier: u8,
    first: u32,
    count: u8,
}

/// The day's visits, in time order: parcels go round the buildings and
/// carriers in turn, [`PARCELS_PER_VISIT`] at a time; each visit's minute
/// follows the curve (a fixed hash of the visit, so runs are comparable).
fn schedule(buildings: usize, parcels: usize) -> Vec<Visit> {
    let total: u32 = CURVE.iter().sum();
    let visits = parcels.div_ceil(PARCELS_PER_VISIT);
    let mut out = Vec::with_capacity(visits);
    for v in 0..visits {
        let first = v * PARCELS_PER_VISIT;
        let count = PARCELS_PER_VISIT.min(parcels - first);
        let h = splitmix(v as u64);
        // An hour by the curve's weights, then a minute in it.
        let mut pick = (h % u64::from(total)) as u32;
        let mut hour = 0u32;
        for (i, w) in CURVE.iter().enumerate() {
            if pick < *w {
                hour = i as u32;
                break;
            }
            pick -= w;
        }
        let minute = DAY_START_MIN + hour * 60 + ((h >> 32) % 60) as u32;
        out.push(Visit {
            minute,
            building: (v % buildings.max(1)) as u32,
            carrier: ((v / buildings.max(1)) % 3) as u8,
            first: first as u32,
            count: count as u8,
        });
    }
    out.sort_by_key(|v| (v.minute, v.building));
    out
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the simulation itself counted, to set beside the service's figures.
#[derive(Default)]
pub struct Tally {
    pub announced: AtomicU64,
    pub requests: AtomicU64,
    pub granted: AtomicU64,
    pub delivered: AtomicU64,
    pub returns_collected: AtomicU64,
    pub guest_entries: AtomicU64,
    pub door_entries: AtomicU64,
    pub events_carried: AtomicU64,
    pub blocks: AtomicU64,
    pub unblocks: AtomicU64,
    pub refusals: Mutex<BTreeMap<String, u64>>,
    pub lock_refusals: Mutex<BTreeMap<String, u64>>,
    pub other_errors: Mutex<BTreeMap<String, u64>>,
    /// Access-request latencies seen by the drivers.
    pub latency: Mutex<Latency>,
}

/// Latencies in fixed buckets (10 µs up to 100 ms, 1 ms up to 10 s), so
/// the simulation's memory does not grow with the parcels it delivered.
pub struct Latency {
    fine: Vec<u64>,
    coarse: Vec<u64>,
    max_us: u64,
    count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency { fine: vec![0; 10_000], coarse: vec![0; 10_000], max_us: 0, count: 0 }
    }
}

impl Latency {
    pub fn record(&mut self, us: u64) {
        let slot = if us < 100_000 {
            self.fine.get_mut((us / 10) as usize)
        } else {
            self.coarse.get_mut(((us / 1000) as usize).min(9_999))
        };
        if let Some(n) = slot {
            *n += 1;
        }
        self.max_us = self.max_us.max(us);
        self.count += 1;
    }

    /// The `p` quantile (0..=1) in milliseconds, to the bucket's upper edge.
    pub fn quantile_ms(&self, p: f64) -> f64 {
        if p >= 1.0 {
            return self.max_us as f64 / 1000.0;
        }
        let want = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= want {
                return (i as f64 + 1.0) * 0.01;
            }
        }
        for (i, n) in self.coarse.iter().enumerate() {
            seen += n;
            if seen >= want {
                return (i as f64 + 1.0).min(self.max_us as f64 / 1000.0);
            }
        }
        self.max_us as f64 / 1000.0
    }
}

impl Tally {
    fn count(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
        let mut m = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry(key.to_owned()).or_insert(0) += 1;
    }

    pub fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
        map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Everything a visit needs, shared.
pub struct Day {
    pub city: City,
    /// The simulation's clock (its locks read it) ...
    pub clock: Arc<SimClock>,
    /// ... and the service's, in its process, moved with it.
    service: Arc<ServiceProcess>,
    pub day_start: i64,
    pub tally: Tally,
    /// Parcels whose visits are done (for the progress bar and the RSS marks).
    pub parcels_done: AtomicU64,
    /// Returns scheduled and not yet collected, by building.
    returns: Mutex<BTreeMap<usize, Delivery>>,
    /// A spare phone nobody registered.
    spare_phone: Handheld,
}

impl Day {
    pub fn new(city: City, clock: Arc<SimClock>, service: Arc<ServiceProcess>, day_start: i64) -> Day {
        Day {
            city,
            clock,
            service,
            day_start,
            tally: Tally::default(),
            parcels_done: AtomicU64::new(0),
            returns: Mutex::new(BTreeMap::new()),
            spare_phone: Handheld::generate(&mut OsRng),
        }
    }

    fn at(&self, minute: u32) -> i64 {
        self.day_start + i64::from(minute) * 60
    }

    pub fn online(&self, building: usize, minute: u32) -> bool {
        !(building % OFFLINE_EVERY == OFFLINE_EVERY - 1 && (OUTAGE.0..OUTAGE.1).contains(&minute))
    }
}

/// Runs the day; `on_minute` is called after each simulated minute.
pub async fn run(
    day: Arc<Day>,
    parcels: usize,
    concurrency: usize,
    mut on_minute: impl FnMut(&Day),
) -> anyhow::Result<()> {
    let visits = schedule(day.city.buildings.len(), parcels);
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut next = 0usize;
    for minute in DAY_START_MIN..DAY_END_MIN {
        day.clock.set(day.at(minute));
        day.service.set_time(day.at(minute)).await?;
        happenings(&day, minute).await?;
        let mut tasks = JoinSet::new();
        while let Some(v) = visits.get(next).filter(|v| v.minute == minute).copied() {
            next += 1;
            let (day, permit) = (day.clone(), limit.clone().acquire_owned().await?);
            tasks.spawn(async move {
                let result = visit(&day, v).await;
                drop(permit);
                result
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        on_minute(&day);
    }
    Ok(())
}

/// What happens at a minute besides the visits.
async fn happenings(day: &Day, minute: u32) -> anyhow::Result<()> {
    let now = day.at(minute);
    let city = &day.city;
    for (b, building) in city.buildings.iter().enumerate() {
        let Some(resident) = &building.resident else { continue };
        let unit = *building.units.first().context("a unit")?;
        if b.is_multiple_of(BLOCK_EVERY) && minute == 11 * 60 {
            resident.block(unit, &CreateBlock { until: None, reason: Some("away".into()) }).await?;
            day.tally.blocks.fetch_add(1, Ordering::Relaxed);
        }
        if b.is_multiple_of(BLOCK_EVERY) && minute == 13 * 60 {
            resident.unblock(unit).await?;
            day.tally.unblocks.fetch_add(1, Ordering::Relaxed);
        }
        if b % RETURN_EVERY == 10 && minute == 8 * 60 {
            let metro = city.carriers.first().context("a carrier")?;
            let req = ScheduleReturn {
                carrier_id: metro.id,
                drop_spot_id: building.lobby,
                window_start: now,
                window_end: day.at(DAY_END_MIN),
                tracking_number: Some(format!("RET-{b:06}")),
            };
            let scheduled = resident.schedule_return(unit, &req).await.context("scheduling a return")?;
            day.returns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(b, scheduled);
        }
        if b.is_multiple_of(GUEST_EVERY) && minute == 15 * 60 {
            guest_visit(day, b, resident, unit, now).await?;
        }
    }
    // Noon: Nightowl is dropped at some buildings (its live grants there revoked).
    if minute == 12 * 60 {
        let nightowl = city.carriers.get(NIGHTOWL).context("Nightowl")?;
        for (b, building) in city.buildings.iter().enumerate() {
            if b % DROPPED_EVERY == DROPPED_EVERY - 1 {
                let manager = city.managers.get(b / super::city::BUILDINGS_PER_MANAGER).context("a manager")?;
                manager.remove_enablement(building.property, nightowl.id).await.context("dropping a carrier")?;
            }
        }
    }
    // Swift Courier's first driver is suspended from 12:00 to 13:00.
    let swift = city.carriers.get(1).context("Swift")?;
    if let Some(driver) = swift.drivers.first() {
        let status = match minute {
            m if m == 12 * 60 => Some(DriverStatus::Suspended),
            m if m == 13 * 60 => Some(DriverStatus::Active),
            _ => None,
        };
        if let Some(status) = status {
            let update = UpdateDriver { status: Some(status), ..UpdateDriver::default() };
            swift.client.update_driver(driver.id, &update).await.context("suspending a driver")?;
        }
    }
    Ok(())
}

/// A resident gives a guest an hour's pass; the guest opens the street door.
async fn guest_visit(day: &Day, b: usize, resident: &Client, unit: UnitId, now: i64) -> anyhow::Result<()> {
    let building = day.city.buildings.get(b).context("the building")?;
    let guest = Handheld::generate(&mut OsRng);
    let req = CreateGuestPass {
        name: "Dog sitter".into(),
        valid_from: now,
        valid_until: now + 3600,
        handheld_public_key: Some(guest.public_key_b64()),
        max_uses: Some(2),
    };
    let issued = resident.create_guest_pass(unit, &req).await.context("creating a guest pass")?;
    let credential =
        issued.doors.first().and_then(|d| d.credential.as_deref()).context("a credential for the street door")?;
    let credential = doorman_domain::serde_b64::decode(credential).map_err(|_| anyhow::anyhow!("not base64url"))?;
    building.lock.arrive(day.online(b, ((now - day.day_start) / 60) as u32))?;
    let entered = building.lock.present(&guest, &credential).await;
    building.lock.leave();
    match entered? {
        AtTheDoor::WentIn => day.tally.guest_entries.fetch_add(1, Ordering::Relaxed),
        AtTheDoor::Refused(reason) => {
            Tally::count(&day.tally.lock_refusals, reason);
            0
        }
    };
    Ok(())
}

/// One driver's visit to one building.
async fn visit(day: &Day, v: Visit) -> anyhow::Result<()> {
    let b = v.building as usize;
    let city = &day.city;
    let building = city.buildings.get(b).context("the visit's building")?;
    let carrier = city.carriers.get(usize::from(v.carrier)).context("the visit's carrier")?;
    let driver = carrier.driver_for(b).context("a driver")?;
    let online = day.online(b, v.minute);
    let now = day.at(v.minute);

    // The carrier announces what the driver brings.
    let mut parcels = Vec::new();
    for p in v.first as usize..(v.first as usize + usize::from(v.count)) {
        let unit = *building.units.get(p % UNITS.len()).context("a unit")?;
        let late = mistake(p) == Mistake::Late;
        let req = CreateDelivery {
            tracking_number: format!("SIM-{p:08}"),
            property_id: building.property,
            unit_id: Some(unit),
            unit_label: None,
            kind: DeliveryKind::Drop,
            window_start: if late { day.day_start - 7200 } else { day.day_start },
            window_end: if late { day.day_start - 3600 } else { day.at(DAY_END_MIN) + 3600 },
        };
        let delivery = carrier.client.create_delivery(&req).await.context("announcing a parcel")?;
        day.tally.announced.fetch_add(1, Ordering::Relaxed);
        if mistake(p) == Mistake::Cancelled {
            carrier.client.cancel_delivery(delivery.id).await.context("cancelling a parcel")?;
        }
        parcels.push((p, delivery));
    }
    // Metro Parcel collects the building's return, if one is waiting.
    let collect = if v.carrier == 0 {
        day.returns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&b)
    } else {
        None
    };

    building.lock.arrive(online)?;
    let result = async {
        if !online && building.lock.carry_events(&driver.client).await? {
            day.tally.events_carried.fetch_add(1, Ordering::Relaxed);
        }
        for (p, delivery) in &parcels {
            deliver(day, b, driver, *p, delivery, online).await?;
            day.parcels_done.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(ret) = &collect {
            let ask = ask(building.property, &ret.tracking_number, driver, location(b));
            if let Some(granted) = request(day, driver, &ask).await? {
                if let AtTheDoor::WentIn = at_the_door(day, b, driver, &granted, online).await? {
                    let done = CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None };
                    driver.client.complete_delivery(granted.delivery_id, &done).await.context("collecting a return")?;
                    day.tally.returns_collected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    building.lock.leave();
    let _ = now;
    result
}

fn ask(property: PropertyId, tracking: &str, driver: &super::city::Driver, position: GeoPoint) -> AccessRequest {
    AccessRequest {
        tracking_number: tracking.to_owned(),
        property_id: property,
        handheld_public_key: driver.handheld_b64.clone(),
        position,
        drop_spot_id: None,
    }
}

/// One access request, timed and counted: the grant, or None after counting
/// the refusal (or error) by its code.
async fn request(
    day: &Day,
    driver: &super::city::Driver,
    req: &AccessRequest,
) -> anyhow::Result<Option<AccessGranted>> {
    #[allow(clippy::disallowed_methods)] // the drivers' latency, measured by the simulation
    let started = std::time::Instant::now();
    let result = driver.client.request_access(req).await;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    day.tally.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(us);
    day.tally.requests.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(granted) => {
            day.tally.granted.fetch_add(1, Ordering::Relaxed);
            Ok(Some(granted))
        }
        Err(e) => {
            refused(day, &e)?;
            Ok(None)
        }
    }
}

fn refused(day: &Day, e: &ClientError) -> anyhow::Result<()> {
    match e.code() {
        Some(code) if RefusalReason::ALL.iter().any(|r| r.as_str() == code) => Tally::count(&day.tally.refusals, code),
        Some(code) => Tally::count(&day.tally.other_errors, code),
        None => anyhow::bail!("an access request failed: {e}"),
    }
    Ok(())
}

async fn at_the_door(
    day: &Day,
    b: usize,
    driver: &super::city::Driver,
    granted: &AccessGranted,
    online: bool,
) -> anyhow::Result<AtTheDoor> {
    let building = day.city.buildings.get(b).context("the building")?;
    building.lock.wait_for_room(online).await?;
    let outcome = building.lock.enter(&driver.handheld, granted).await?;
    match &outcome {
        AtTheDoor::WentIn => day.tally.door_entries.fetch_add(1, Ordering::Relaxed),
        AtTheDoor::Refused(reason) => {
            Tally::count(&day.tally.lock_refusals, reason);
            0
        }
    };
    Ok(outcome)
}

/// One parcel: the mistake planned for it, the scan, the door, the drop.
async fn deliver(
    day: &Day,
    b: usize,
    driver: &super::city::Driver,
    p: usize,
    delivery: &Delivery,
    online: bool,
) -> anyhow::Result<()> {
    let building = day.city.buildings.get(b).context("the building")?;
    let right = ask(building.property, &delivery.tracking_number, driver, location(b));
    let first = match mistake(p) {
        Mistake::Typo => Some(AccessRequest { tracking_number: format!("SIM-X{p:07}"), ..right.clone() }),
        Mistake::FarAway => Some(AccessRequest { position: far_from(b), ..right.clone() }),
        Mistake::OtherPhone => {
            Some(AccessRequest { handheld_public_key: day.spare_phone.public_key_b64(), ..right.clone() })
        }
        Mistake::NextDoor => {
            let n = (b + 1) % day.city.buildings.len();
            let next = day.city.buildings.get(n).context("the building next door")?;
            (n != b).then(|| AccessRequest { property_id: next.property, position: location(n), ..right.clone() })
        }
        _ => None,
    };
    if let Some(wrong) = first {
        if let Some(granted) = request(day, driver, &wrong).await? {
            anyhow::bail!("parcel {p}: a planned mistake was granted ({})", granted.grant_id);
        }
    }
    let Some(granted) = request(day, driver, &right).await? else { return Ok(()) };
    if mistake(p) == Mistake::DoubleScan {
        request(day, driver, &right).await?;
    }
    let AtTheDoor::WentIn = at_the_door(day, b, driver, &granted, online).await? else { return Ok(()) };
    let done = CompleteDelivery { drop_spot_id: granted.drop_spot_id, photo_ref: None };
    driver.client.complete_delivery(granted.delivery_id, &done).await.context("confirming a drop")?;
    day.tally.delivered.fetch_add(1, Ordering::Relaxed);
    if mistake(p) == Mistake::Rescan {
        request(day, driver, &right).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_covers_every_parcel_once_in_time_order() {
        let visits = schedule(7, 1000);
        let mut seen = vec![false; 1000];
        for v in &visits {
            for p in v.first..v.first + u32::from(v.count) {
                assert!(!std::mem::replace(&mut seen[p as usize], true), "parcel {p} twice");
            }
            assert!((DAY_START_MIN..DAY_END_MIN).contains(&v.minute));
        }
        assert!(seen.iter().all(|s| *s));
        assert!(visits.windows(2).all(|w| w[0].minute <= w[1].minute));
        // The curve: more visits at 10:00 than at 20:00.
        let at = |h: u32| visits.iter().filter(|v| v.minute / 60 == h).count();
        assert!(at(10) > 3 * at(20), "{} vs {}", at(10), at(20));
    }

    #[test]
    fn latency_quantiles_come_from_the_buckets() {
        let mut l = Latency::default();
        for us in 1..=1000u64 {
            l.record(us * 100); // 0.1 ms .. 100 ms
        }
        l.record(2_500_000);
        assert!((l.quantile_ms(0.5) - 50.0).abs() < 0.2, "{}", l.quantile_ms(0.5));
        assert!((l.quantile_ms(0.99) - 99.0).abs() < 1.1, "{}", l.quantile_ms(0.99));
        assert_eq!(l.quantile_ms(1.0), 2500.0);
    }
}
