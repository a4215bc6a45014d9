//! What every store operation is written against, once: an [`Exec`] runs a
//! statement with its [`Value`]s and reads the rows it returns as
//! [`Record`]s, through a [`Cells`] cursor over one row.
//!
//! Three executors implement it: a sqlx connection on SQLite and one on
//! PostgreSQL (`sqlx_exec`), and a rusqlite connection of SQLite's direct
//! access path (`sqlite_direct`), whose futures are ready when made (the
//! calls are synchronous) and are run with [`ready_now`]. The operations
//! are `async fn`s generic over the executor: the claim of a grant, the log
//! append and the access path's reads exist once and run on all three.
//!
//! Statements use `$1`, `$2`, ... placeholders (the direct path binds them
//! by name), the portable column types (text, 64-bit integers, doubles,
//! booleans, bytes) and `ON CONFLICT` / `RETURNING`, which both databases
//! understand. Where the dialects differ (a row lock), [`Dialect`] says
//! which text to run.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use doorman_domain::{
    AccessPointId, AccessRequestId, CarrierId, ClipId, DeliveryId, DriverId, DropSpotId, GrantId, GuestPassId,
    InvitationId, LockId, ManagerId, PasskeyId, PickupPointId, PropertyId, ResidentId, TokenId, UnitId, VehicleId,
    WebhookDeliveryId, WebhookId,
};
use serde::de::DeserializeOwned;

use crate::{StoreError, StoreResult};

/// The SQL dialect an executor speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement that reads a row to change it: on PostgreSQL with
/// `FOR UPDATE` (the row lock makes concurrent writers take turns); on
/// SQLite without, as `BEGIN IMMEDIATE` already keeps every other writer out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Locking {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// `Locking` for a `SELECT` given as a literal.
macro_rules! locking {
    ($select:expr) => {
        $crate::exec::Locking { sqlite: $select, postgres: concat!($select, " FOR UPDATE") }
    };
}
pub(crate) use locking;

impl Dialect {
    pub(crate) fn locking(self, statement: Locking) -> &'static str {
        match self {
            Dialect::Sqlite => statement.sqlite,
            Dialect::Postgres => statement.postgres,
        }
    }
}

/// A UUID as its 36 characters (hyphenated, lower case: what `to_string`
/// gives), kept inline so that binding an id allocates nothing.
#[derive(Clone, Copy)]
pub(crate) struct IdText([u8; 36]);

impl IdText {
    fn of(id: uuid::Uuid) -> Self {
        let mut text = [0u8; 36];
        id.hyphenated().encode_lower(&mut text);
        IdText(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// One bound value. Every variant but the always-present ones carries an
/// Option: a NULL keeps its column type (PostgreSQL checks it).
#[derive(Clone)]
pub(crate) enum Value<'a> {
    Text(Option<&'a str>),
    /// Text made for the statement (JSON, a kind's name built at run time).
    Owned(Option<String>),
    Id(Option<IdText>),
    Int(Option<i64>),
    Real(f64),
    Bool(bool),
    Blob(Option<&'a [u8]>),
    /// Bytes owned by the value (a write queued to another thread).
    OwnedBlob(Option<Vec<u8>>),
}

impl Value<'_> {
    /// The same value, owning what it borrowed (to queue a statement to
    /// SQLite's writer thread).
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(v) => Value::Owned(v.map(str::to_owned)),
            Value::Owned(v) => Value::Owned(v),
            Value::Id(v) => Value::Id(v),
            Value::Int(v) => Value::Int(v),
            Value::Real(v) => Value::Real(v),
            Value::Bool(v) => Value::Bool(v),
            Value::Blob(v) => Value::OwnedBlob(v.map(<[u8]>::to_vec)),
            Value::OwnedBlob(v) => Value::OwnedBlob(v),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Owned(Some(v))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(v: Option<String>) -> Self {
        Value::Owned(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(Some(v))
    }
}

impl<'a> From<Option<&'a [u8]>> for Value<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Value::Blob(v)
    }
}

impl<'a> From<&'a [u8; 32]> for Value<'a> {
    fn from(v: &'a [u8; 32]) -> Self {
        Value::Blob(Some(v))
    }
}

impl From<uuid::Uuid> for Value<'_> {
    fn from(v: uuid::Uuid) -> Self {
        Value::Id(Some(IdText::of(v)))
    }
}

/// Ids bind as their text.
macro_rules! id_values {
    ($($id:ident),* $(,)?) => {$(
        impl From<$id> for Value<'_> {
            fn from(v: $id) -> Self {
                Value::Id(Some(IdText::of(v.as_uuid())))
            }
        }

        impl From<Option<$id>> for Value<'_> {
            fn from(v: Option<$id>) -> Self {
                Value::Id(v.map(|id| IdText::of(id.as_uuid())))
            }
        }
    )*};
}

id_values! {
    ManagerId, CarrierId, PropertyId, UnitId, AccessPointId, LockId, DropSpotId, ResidentId, InvitationId, DriverId,
    DeliveryId, GrantId, AccessRequestId, TokenId, WebhookId, WebhookDeliveryId, PickupPointId, ClipId, VehicleId,
    GuestPassId, PasskeyId,
}

/// The values of a statement, each converted to a [`Value`], in the order of
/// its placeholders.
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        [$($crate::exec::Value::from($value)),*]
    };
}
pub(crate) use values;

/// `u64` values (log indexes, counters) are stored as `i64`.
pub(crate) fn to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} is out of range")))
}

pub(crate) fn to_u64(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

/// A row that could not have been written by this crate.
pub(crate) fn malformed(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} is malformed"))
}

/// The columns of one row, read left to right. An executor implements the
/// five primitive reads; the rest are written once here.
pub(crate) trait Cells {
    fn opt_str(&mut self) -> StoreResult<Option<&str>>;
    fn opt_i64(&mut self) -> StoreResult<Option<i64>>;
    fn f64(&mut self) -> StoreResult<f64>;
    fn bool(&mut self) -> StoreResult<bool>;
    fn opt_blob(&mut self) -> StoreResult<Option<&[u8]>>;

    fn str(&mut self, what: &str) -> StoreResult<&str> {
        self.opt_str()?.ok_or_else(|| malformed(what))
    }

    fn string(&mut self, what: &str) -> StoreResult<String> {
        self.str(what).map(str::to_owned)
    }

    fn opt_string(&mut self) -> StoreResult<Option<String>> {
        Ok(self.opt_str()?.map(str::to_owned))
    }

    fn i64(&mut self, what: &str) -> StoreResult<i64> {
        self.opt_i64()?.ok_or_else(|| malformed(what))
    }

    fn u64(&mut self, what: &str) -> StoreResult<u64> {
        to_u64(self.i64(what)?, what)
    }

    fn opt_u64(&mut self, what: &str) -> StoreResult<Option<u64>> {
        self.opt_i64()?.map(|v| to_u64(v, what)).transpose()
    }

    fn blob(&mut self, what: &str) -> StoreResult<Vec<u8>> {
        Ok(self.opt_blob()?.ok_or_else(|| malformed(what))?.to_vec())
    }

    fn opt_blob_vec(&mut self) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.opt_blob()?.map(<[u8]>::to_vec))
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> StoreResult<[u8; N]> {
        <[u8; N]>::try_from(self.opt_blob()?.ok_or_else(|| malformed(what))?).map_err(|_| malformed(what))
    }

    fn id<T: From<uuid::Uuid>>(&mut self, what: &str) -> StoreResult<T> {
        let text = self.str(what)?;
        uuid::Uuid::parse_str(text).map(T::from).map_err(|_| malformed(what))
    }

    fn opt_id<T: From<uuid::Uuid>>(&mut self, what: &str) -> StoreResult<Option<T>> {
        match self.opt_str()? {
            Some(text) => uuid::Uuid::parse_str(text).map(|id| Some(T::from(id))).map_err(|_| malformed(what)),
            None => Ok(None),
        }
    }

    fn json<T: DeserializeOwned>(&mut self, what: &str) -> StoreResult<T> {
        serde_json::from_str(self.str(what)?).map_err(|_| malformed(what))
    }

    /// A text column that names an enum value.
    fn parse<T>(&mut self, parse: impl Fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
        parse(self.str(what)?).ok_or_else(|| malformed(what))
    }

    fn opt_parse<T>(&mut self, parse: impl Fn(&str) -> Option<T>, what: &str) -> StoreResult<Option<T>> {
        self.opt_str()?.map(|text| parse(text).ok_or_else(|| malformed(what))).transpose()
    }
}

/// A value read from the columns of a row, left to right: the one way rows
/// become values in this crate.
pub(crate) trait Record: Sized {
    fn read(cells: &mut impl Cells) -> StoreResult<Self>;
}

/// No column: for "is there a row".
impl Record for () {
    fn read(_: &mut impl Cells) -> StoreResult<()> {
        Ok(())
    }
}

impl Record for i64 {
    fn read(cells: &mut impl Cells) -> StoreResult<i64> {
        cells.i64("integer")
    }
}

impl Record for String {
    fn read(cells: &mut impl Cells) -> StoreResult<String> {
        cells.string("text")
    }
}

impl<A: Record, B: Record> Record for (A, B) {
    fn read(cells: &mut impl Cells) -> StoreResult<(A, B)> {
        Ok((A::read(cells)?, B::read(cells)?))
    }
}

/// Runs statements. The futures of the direct path's executor are ready
/// when made (and hold no connection, so they are `Send` too); sqlx's wait
/// for the database.
pub(crate) trait Exec {
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> impl Future<Output = StoreResult<u64>> + Send;

    fn fetch_optional<R: Record + Send>(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Option<R>>> + Send;

    fn fetch_all<R: Record + Send>(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> impl Future<Output = StoreResult<Vec<R>>> + Send;
}

/// Runs a future of the direct path's executor, which is ready at once (it
/// never waits: its statements run synchronously when called).
pub(crate) fn ready_now<T>(future: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Backend("a synchronous SQLite call waited".into())),
    }
}
