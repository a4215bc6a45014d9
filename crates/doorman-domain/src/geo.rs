//! Positions and distances on the Earth's surface.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeoPoint {
    /// Degrees, -90..=90.
    pub lat: f64,
    /// Degrees, -180..=180.
    pub lon: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("position out of range: latitude must be within ±90 and longitude within ±180 degrees")]
pub struct InvalidPosition;

impl GeoPoint {
    /// The only way to build a position from outside input.
    pub fn parse(lat: f64, lon: f64) -> Result<Self, InvalidPosition> {
        if lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
            Ok(Self { lat, lon })
        } else {
            Err(InvalidPosition)
        }
    }

    /// Great-circle distance in metres (haversine; good to well under a metre
    /// at the few hundred metres that matter here).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_between_two_manhattan_corners() {
        // 5th Ave & 42nd St to 5th Ave & 43rd St: about 80 m.
        let a = GeoPoint::parse(40.7531, -73.9812).unwrap();
        let b = GeoPoint::parse(40.7538, -73.9807).unwrap();
        let d = a.distance_m(&b);
        assert!((80.0..100.0).contains(&d), "{d}");
        assert_eq!(a.distance_m(&a), 0.0);
    }

    #[test]
    fn rejects_out_of_range_and_nan() {
        assert!(GeoPoint::parse(91.0, 0.0).is_err());
        assert!(GeoPoint::parse(0.0, -181.0).is_err());
        assert!(GeoPoint::parse(f64::NAN, 0.0).is_err());
    }
}
