//! The WSDL's date structs: `SoapMplusDate` (`day`, `mon`, `year`) and `SoapMplusDateTime`
//! (wall clock, `isdst` and the `timezone` offset in minutes east of UTC).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::WireError;

/// `tns:SoapMplusDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoapMplusDate {
    /// Day of the month.
    pub day: i32,
    /// Month (1-12).
    pub mon: i32,
    /// Year.
    pub year: i32,
}

impl SoapMplusDate {
    /// Whether this date is `other` or later (calendar order).
    pub fn on_or_after(&self, other: &SoapMplusDate) -> bool {
        (self.year, self.mon, self.day) >= (other.year, other.mon, other.day)
    }

    /// The date, when it is a real one.
    pub fn to_naive(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(
            self.year,
            u32::try_from(self.mon).ok()?,
            u32::try_from(self.day).ok()?,
        )
    }

    /// From a calendar date.
    pub fn from_naive(d: NaiveDate) -> Self {
        Self {
            day: d.day() as i32,
            mon: d.month() as i32,
            year: d.year(),
        }
    }
}

/// `tns:SoapMplusDateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoapMplusDateTime {
    /// Seconds.
    pub sec: i32,
    /// Minutes.
    pub min: i32,
    /// Hours.
    pub hour: i32,
    /// Day of the month.
    pub day: i32,
    /// Month (1-12).
    pub mon: i32,
    /// Year.
    pub year: i32,
    /// Daylight saving time in effect.
    #[serde(default)]
    pub isdst: bool,
    /// Offset from UTC in minutes.
    #[serde(default)]
    pub timezone: i32,
}

impl SoapMplusDateTime {
    /// The instant in UTC (wall clock minus the offset).
    pub fn to_utc(&self) -> Result<DateTime<Utc>, WireError> {
        let bad = || WireError::Content(format!("{self:?} is not a valid date and time"));
        let part = |v: i32| u32::try_from(v).map_err(|_| bad());
        let offset = FixedOffset::east_opt(self.timezone.saturating_mul(60)).ok_or_else(bad)?;
        let time = NaiveDate::from_ymd_opt(self.year, part(self.mon)?, part(self.day)?)
            .and_then(|d| {
                d.and_hms_opt(
                    part(self.hour).ok()?,
                    part(self.min).ok()?,
                    part(self.sec).ok()?,
                )
            })
            .ok_or_else(bad)?;
        let local = offset.from_local_datetime(&time).single().ok_or_else(bad)?;
        Ok(local.with_timezone(&Utc))
    }

    /// The wall clock and offset of `ts`.
    pub fn from_chrono(ts: &DateTime<FixedOffset>) -> Self {
        Self {
            sec: ts.second() as i32,
            min: ts.minute() as i32,
            hour: ts.hour() as i32,
            day: ts.day() as i32,
            mon: ts.month() as i32,
            year: ts.year(),
            isdst: false,
            timezone: ts.offset().local_minus_utc() / 60,
        }
    }

    /// The calendar date part.
    pub fn date(&self) -> SoapMplusDate {
        SoapMplusDate {
            day: self.day,
            mon: self.mon,
            year: self.year,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_plus_offset() {
        let t = SoapMplusDateTime {
            sec: 5,
            min: 30,
            hour: 10,
            day: 24,
            mon: 11,
            year: 2026,
            isdst: false,
            timezone: 60,
        };
        let utc = t.to_utc().expect("valid");
        assert_eq!(utc.to_rfc3339(), "2026-11-24T09:30:05+00:00");
        let back = SoapMplusDateTime::from_chrono(
            &utc.with_timezone(&FixedOffset::east_opt(3600).expect("offset")),
        );
        assert_eq!(back, t);
        assert!(
            SoapMplusDateTime {
                day: 31,
                mon: 2,
                ..t
            }
            .to_utc()
            .is_err()
        );
        assert!(SoapMplusDateTime { hour: -1, ..t }.to_utc().is_err());
        assert!(
            SoapMplusDateTime {
                timezone: i32::MAX,
                ..t
            }
            .to_utc()
            .is_err()
        );
    }
}
