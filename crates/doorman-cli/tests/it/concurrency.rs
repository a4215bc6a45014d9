//! One parcel, fifty drivers' requests at the same instant: exactly one
//! credential. The guarantee lives in the database (see
//! `Store::claim_grant`), so it holds on both backends and across processes.

use std::sync::Arc;

use doorman_api::*;
use doorman_client::ClientError;
use reqwest::StatusCode;
use tokio::sync::Barrier;

use crate::fixture::Building;
use crate::kit::{assert_error_shape, Kit};
use crate::lock::Outcome;

const AT_ONCE: usize = 50;

/// Fires `AT_ONCE` requests for `tracking` together, alternating Dana and
/// Eli (both Parcelo); returns the grants and the refusals' codes.
async fn rush(b: &Building, tracking: &str) -> anyhow::Result<(Vec<AccessGranted>, Vec<String>)> {
    let barrier = Arc::new(Barrier::new(AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..AT_ONCE {
        let driver = if i % 2 == 0 { &b.dana } else { &b.eli };
        let (client, request, barrier) = (driver.client.clone(), b.ask_as(driver, tracking), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            client.request_access(&request).await
        });
    }
    let (mut granted, mut refused) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(grant) => granted.push(grant),
            Err(ClientError::Api { status, body }) => {
                assert_error_shape(status, &body);
                assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
                refused.push(body.error.code);
            }
            Err(other) => anyhow::bail!("a request failed outright: {other}"),
        }
    }
    Ok((granted, refused))
}

pub async fn fifty_simultaneous_requests_yield_one_credential(kit: &Kit) -> anyhow::Result<()> {
    let mut b = Building::seed(kit).await?;
    let parcel = b.parcel(kit, "PCL-1001", b.unit_2b.id).await?;

    let (granted, refused) = rush(&b, "PCL-1001").await?;
    assert_eq!(granted.len(), 1, "exactly one credential; refusals: {refused:?}");
    assert_eq!(refused.len(), AT_ONCE - 1);
    assert!(refused.iter().all(|c| c == "access_already_granted"), "{refused:?}");
    let winner = &granted[0];

    // In the database: one grant, and every request recorded once.
    let grants = kit.store().list_grants(parcel.id).await?;
    assert_eq!(grants.iter().map(|g| g.id).collect::<Vec<_>>(), vec![winner.grant_id]);
    let log = b.rosa.property_access_requests(b.property.id).await?;
    assert_eq!(log.len(), AT_ONCE);
    assert_eq!(log.iter().filter(|r| r.grant_id == Some(winner.grant_id)).count(), 1);
    assert_eq!(log.iter().filter(|r| r.refusal == Some(RefusalReason::AccessAlreadyGranted)).count(), AT_ONCE - 1);
    assert!(log.iter().all(|r| r.delivery_id == Some(parcel.id)));

    // The one credential works.
    let keys = kit.anon.keys().await?;
    let holder = if grants[0].driver_id == b.dana.id { &b.dana.handheld } else { &b.eli.handheld };
    let street = winner.doors.first().ok_or_else(|| anyhow::anyhow!("a street door"))?;
    assert_eq!(b.entrance_lock.present(&keys, street, holder, kit.now() + 5)?, Outcome::Opens);

    // Once it expired, another rush yields exactly one new credential.
    kit.set_time(winner.expires_at);
    let (granted, refused) = rush(&b, "PCL-1001").await?;
    assert_eq!((granted.len(), refused.len()), (1, AT_ONCE - 1), "{refused:?}");
    assert_eq!(kit.store().list_grants(parcel.id).await?.len(), 2);
    Ok(())
}
