import Foundation
import SwiftASN1

/// A time as X.509 writes it, RFC 5280 §4.1.2.5 and §5.1.2.4:
///
/// ```
/// Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
/// ```
/// Dates through 2049 MUST be UTCTime and later ones GeneralizedTime, both in UTC with whole seconds.
/// Conversion from `Date` uses integer civil-date arithmetic rather than `Calendar`, because a CRL of a
/// million entries converts a million times.
public enum X509Time: Hashable, Sendable, DERParseable, DERSerializable {
    case utcTime(UTCTime)
    case generalizedTime(GeneralizedTime)

    public init(_ date: Date) throws {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        let hours = secondOfDay / 3600
        let minutes = secondOfDay / 60 % 60
        let second = secondOfDay % 60
        if (1950...2049).contains(year) {
            self = .utcTime(
                try UTCTime(year: year, month: month, day: day, hours: hours, minutes: minutes, seconds: second))
        } else {
            self = .generalizedTime(
                try GeneralizedTime(
                    year: year, month: month, day: day, hours: hours, minutes: minutes, seconds: second,
                    fractionalSeconds: 0))
        }
    }

    public init(derEncoded node: ASN1Node) throws {
        switch node.identifier {
        case UTCTime.defaultIdentifier: self = .utcTime(try UTCTime(derEncoded: node))
        case GeneralizedTime.defaultIdentifier: self = .generalizedTime(try GeneralizedTime(derEncoded: node))
        default: throw ASN1Error.unexpectedFieldType(node.identifier)
        }
    }

    public func serialize(into coder: inout DER.Serializer) throws {
        switch self {
        case .utcTime(let time): try coder.serialize(time)
        case .generalizedTime(let time): try coder.serialize(time)
        }
    }

    /// The instant this time names.
    public var date: Date {
        let (year, month, day, hours, minutes, seconds): (Int, Int, Int, Int, Int, Int) =
            switch self {
            case .utcTime(let t): (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            case .generalizedTime(let t): (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            }
        let days = Self.days(fromCivil: year, month, day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + Int64(hours * 3600 + minutes * 60 + seconds)))
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's civil_from_days).
    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }

    /// The inverse of ``civil(fromDays:)``.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
