import Foundation
import SwiftASN1

/// OCSP's times are always GeneralizedTime (RFC 6960 §4.2.1), in UTC; Fleetkey writes whole seconds, as
/// RFC 5280 §4.1.2.5.2 asks of the certificates the responses speak about.
enum OCSPTime {
    static func generalizedTime(_ date: Date) throws -> GeneralizedTime {
        switch try X509Time(date) {
        case .generalizedTime(let time):
            return time
        case .utcTime(let time):
            return try GeneralizedTime(
                year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                seconds: time.seconds, fractionalSeconds: 0)
        }
    }

    /// The instant a GeneralizedTime names, fractional seconds included.
    static func date(_ time: GeneralizedTime) -> Date {
        X509Time.generalizedTime(time).date.addingTimeInterval(time.fractionalSeconds)
    }
}
