import FleetkeyCore
import Foundation
import PostgresNIO
import SwiftASN1

/// Rows to records: the same mapping as the SQLite registry's, column for column.
extension PostgresRegistry {
    static let certificateColumns =
        "issuer, serial, profile, subject, not_before, not_after, key_fingerprint, device_vendor, device_serial, der, "
        + "status, issued_at, revoked_at, revocation_reason, invalidity_date"

    static let deviceColumns =
        "vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, attestation, attestation_key, owner, "
        + "created_at, updated_at"

    static func authority(_ row: PostgresRow) throws -> AuthorityRecord {
        let (id, kind, vendor, certificate, keyReference, algorithm, createdAt) = try row.decode(
            (String, String, String?, Data, String, String, Date).self)
        return AuthorityRecord(
            id: id, kind: AuthorityKind(rawValue: kind) ?? .vendor, vendor: try vendor.map(VendorName.init),
            certificateDER: Array(certificate), keyReference: keyReference,
            algorithm: try KeySpec(policyName: algorithm), createdAt: createdAt)
    }

    static func vendor(_ row: PostgresRow) throws -> VendorRecord {
        let (name, authorityID, state, createdAt) = try row.decode((String, String, String, Date).self)
        return VendorRecord(
            name: try VendorName(name), authorityID: authorityID, state: VendorState(rawValue: state) ?? .revoked,
            createdAt: createdAt)
    }

    static func certificate(_ row: PostgresRow) throws -> CertificateRecord {
        let (
            issuer, serial, profile, subject, notBefore, notAfter, keyFingerprint, deviceVendor, deviceSerial, der,
            status, issuedAt, revokedAt, reason, invalidityDate
        ) = try row.decode(
            (
                String, String, String, String, Date, Date, String, String?, String?, Data, String, Date, Date?, Int32?,
                Date?
            ).self)
        var device: DeviceID?
        if let deviceVendor, let deviceSerial {
            device = DeviceID(vendor: try VendorName(deviceVendor), serial: try DeviceSerial(deviceSerial))
        }
        return CertificateRecord(
            issuer: issuer, serial: serial, profile: profile, subject: subject, notBefore: notBefore,
            notAfter: notAfter, keyFingerprint: keyFingerprint, device: device, der: Array(der),
            status: CertificateStatus(rawValue: status) ?? .valid, issuedAt: issuedAt,
            revocation: revocationInfo(revokedAt: revokedAt, reason: reason, invalidityDate: invalidityDate))
    }

    static func revocationInfo(revokedAt: Date?, reason: Int32?, invalidityDate: Date?) -> RevocationInfo? {
        guard let revokedAt else { return nil }
        return RevocationInfo(
            revokedAt: revokedAt, reason: reason.flatMap { RevocationReason(rawValue: Int($0)) } ?? .unspecified,
            invalidityDate: invalidityDate)
    }

    static func device(_ row: PostgresRow) throws -> DeviceRecord {
        let (
            vendor, serial, state, lot, keyFingerprint, hardwareType, hardwareSerial, statement, attestationKey, owner,
            createdAt, updatedAt
        ) = try row.decode(
            (String, String, String, String?, String, String?, Data?, Data?, Data?, String?, Date, Date).self)
        var attestation: FactoryAttestation?
        if let statement, let attestationKey {
            attestation = FactoryAttestation(statement: Array(statement), attestationKey: Array(attestationKey))
        }
        var hardware: HardwareModuleName?
        if let hardwareType, let hardwareSerial {
            hardware = HardwareModuleName(
                hardwareType: try ASN1ObjectIdentifier(dotRepresentation: hardwareType),
                serialNumber: Array(hardwareSerial))
        }
        return DeviceRecord(
            id: DeviceID(vendor: try VendorName(vendor), serial: try DeviceSerial(serial)),
            state: DeviceState(rawValue: state) ?? .generated, lot: lot, keyFingerprint: keyFingerprint,
            hardwareModule: hardware, attestation: attestation, owner: owner, createdAt: createdAt,
            updatedAt: updatedAt)
    }

    static func event(_ row: PostgresRow) throws -> LifecycleEvent {
        let (sequence, at, actor, action, subject, fromState, toState, detail) = try row.decode(
            (Int64, Date, String, String, String, String?, String?, String).self)
        return LifecycleEvent(
            sequence: sequence, at: at, actor: actor, action: action, subject: subject, fromState: fromState,
            toState: toState, detail: EventDetailJSON.decode(detail))
    }
}

/// An event's detail map as JSON text (stored as `jsonb`), with sorted keys so equal maps encode equally.
enum EventDetailJSON {
    static func encode(_ detail: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(detail)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}
