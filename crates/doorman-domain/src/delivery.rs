//! The delivery lifecycle. Every state change goes through
//! [`DeliveryState::transition`], which refuses moves that make no sense
//! (un-delivering a parcel, diverting one already in the package room).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryKind {
    /// A parcel brought to the property.
    Drop,
    /// A return collected from the property.
    Pickup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// The carrier announced it.
    Registered,
    /// On the van, with an ETA.
    OutForDelivery,
    /// Left at the drop spot (or, for a pickup, collected from it).
    Delivered,
    /// The attempt failed; the carrier may try again.
    Failed,
    /// Sent to the resident's alternate address or pickup point.
    Diverted,
    /// Withdrawn by the carrier.
    Cancelled,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a delivery cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: DeliveryState,
    pub to: DeliveryState,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Registered,
        DeliveryState::OutForDelivery,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Diverted,
        DeliveryState::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Registered => "registered",
            DeliveryState::OutForDelivery => "out_for_delivery",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Diverted => "diverted",
            DeliveryState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No further move is possible.
    pub fn is_terminal(&self) -> bool {
        matches!(self, DeliveryState::Delivered | DeliveryState::Diverted | DeliveryState::Cancelled)
    }

    /// Whether a driver may still be let in for it.
    pub fn is_open(&self) -> bool {
        matches!(self, DeliveryState::Registered | DeliveryState::OutForDelivery | DeliveryState::Failed)
    }

    pub fn can_become(&self, to: DeliveryState) -> bool {
        use DeliveryState::*;
        matches!(
            (self, to),
            (Registered, OutForDelivery | Delivered | Failed | Diverted | Cancelled)
                | (OutForDelivery, OutForDelivery | Delivered | Failed | Diverted | Cancelled)
                | (Failed, OutForDelivery | Diverted | Cancelled)
        )
    }

    pub fn transition(self, to: DeliveryState) -> Result<DeliveryState, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryState::*;

    #[test]
    fn terminal_states_go_nowhere() {
        for from in [Delivered, Diverted, Cancelled] {
            for to in DeliveryState::ALL {
                assert_eq!(from.transition(to), Err(IllegalTransition { from, to }));
            }
        }
    }

    #[test]
    fn the_usual_journey_is_legal() {
        let s = Registered.transition(OutForDelivery).unwrap();
        let s = s.transition(OutForDelivery).unwrap(); // a new ETA
        let s = s.transition(Failed).unwrap();
        let s = s.transition(OutForDelivery).unwrap();
        assert_eq!(s.transition(Delivered), Ok(Delivered));
    }

    #[test]
    fn names_round_trip() {
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryState::parse("lost"), None);
    }

    #[test]
    fn open_states_are_exactly_the_non_terminal_ones() {
        for s in DeliveryState::ALL {
            assert_eq!(s.is_open(), !s.is_terminal());
        }
    }
}
