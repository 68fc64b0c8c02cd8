//! Conversions between the WIT's times (`wasi:clocks/wall-clock.datetime`, durations in
//! milliseconds) and std's, shared by every module that crosses the boundary.

use std::time::{Duration, SystemTime};

use crate::wit::wasi::clocks::wall_clock::Datetime;

/// `datetime` (UTC, seconds and nanoseconds since the Unix epoch) as a [`SystemTime`].
pub(crate) fn system_time(datetime: Datetime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(datetime.seconds, datetime.nanoseconds)
}

/// `time` as a `datetime`; a time before the Unix epoch is taken as the epoch itself (the WIT
/// type cannot hold it).
pub(crate) fn datetime(time: SystemTime) -> Datetime {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Datetime {
        seconds: since_epoch.as_secs(),
        nanoseconds: since_epoch.subsec_nanos(),
    }
}

/// `duration` in whole milliseconds (rounded down), saturating at `u64::MAX`.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_through_system_time() {
        let datetime = Datetime {
            seconds: 1_700_000_000,
            nanoseconds: 123_456_789,
        };
        let time = system_time(datetime);
        assert_eq!(
            time.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::new(1_700_000_000, 123_456_789)
        );
        let back = super::datetime(time);
        assert_eq!(
            (back.seconds, back.nanoseconds),
            (1_700_000_000, 123_456_789)
        );
    }

    #[test]
    fn a_time_before_the_epoch_is_the_epoch() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        let datetime = datetime(before);
        assert_eq!((datetime.seconds, datetime.nanoseconds), (0, 0));
    }

    #[test]
    fn millis_round_down_and_saturate() {
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
