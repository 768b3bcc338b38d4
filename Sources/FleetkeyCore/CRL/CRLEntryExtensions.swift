import Foundation
import SwiftASN1
import X509

/// The CRL entry extensions Fleetkey writes, RFC 5280 §5.3.
///
/// ```
/// id-ce-cRLReasons OBJECT IDENTIFIER ::= { id-ce 21 }      CRLReason ::= ENUMERATED { ... }
/// id-ce-invalidityDate OBJECT IDENTIFIER ::= { id-ce 24 }  InvalidityDate ::= GeneralizedTime
/// ```
/// §5.3.1: the reasonCode SHOULD be absent rather than `unspecified`. Both are non-critical.
public enum CRLEntryExtensions {
    public static let reasonCode: ASN1ObjectIdentifier = [2, 5, 29, 21]
    public static let invalidityDate: ASN1ObjectIdentifier = [2, 5, 29, 24]

    /// The DER of the reasonCode extension for `reason` (a whole `Extension` SEQUENCE), precomputed per reason
    /// because a large CRL repeats the same few values millions of times.
    static let reasonExtensionDER: [RevocationReason: [UInt8]] = {
        var table: [RevocationReason: [UInt8]] = [:]
        for reason in RevocationReason.allCases {
            var value = DER.Serializer()
            value.appendPrimitiveNode(identifier: .enumerated) { $0.append(UInt8(reason.rawValue)) }
            let ext = Certificate.Extension(oid: reasonCode, critical: false, value: value.serializedBytes[...])
            var serializer = DER.Serializer()
            try! serializer.serialize(ext)
            table[reason] = serializer.serializedBytes
        }
        return table
    }()

    static func invalidityDateExtension(_ date: Date) throws -> Certificate.Extension {
        let components = try X509Time(date)
        var value = DER.Serializer()
        // InvalidityDate is always GeneralizedTime, whatever the year.
        switch components {
        case .generalizedTime(let time): try value.serialize(time)
        case .utcTime(let time):
            try value.serialize(
                try GeneralizedTime(
                    year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                    seconds: time.seconds, fractionalSeconds: 0))
        }
        return Certificate.Extension(oid: invalidityDate, critical: false, value: value.serializedBytes[...])
    }

    static func reason(from ext: Certificate.Extension) throws -> RevocationReason {
        let node = try DER.parse(ext.value)
        guard node.identifier == .enumerated, case .primitive(let bytes) = node.content, bytes.count == 1,
            let reason = RevocationReason(rawValue: Int(bytes.first!))
        else { throw ASN1Error.invalidASN1Object(reason: "reasonCode is not a known CRLReason") }
        return reason
    }

    static func invalidity(from ext: Certificate.Extension) throws -> Date {
        X509Time.generalizedTime(try GeneralizedTime(derEncoded: ext.value)).date
    }
}
