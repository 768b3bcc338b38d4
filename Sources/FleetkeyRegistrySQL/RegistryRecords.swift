import FleetkeyCore
import Foundation
import SwiftASN1

/// The registry's rows as records, for both stores: the one place a stored value becomes a domain value, and where
/// an unknown stored value becomes an error (``StoredRow``).
package enum RegistryRecords {
    package static let authorityColumns = "id, kind, vendor, certificate, key_reference, algorithm, created_at"
    package static let vendorColumns = "name, authority_id, state, created_at"
    package static let keyColumns = "fingerprint, spki, algorithm, custody, location, created_at"
    package static let certificateColumns =
        "issuer, serial, profile, subject, not_before, not_after, key_fingerprint, device_vendor, device_serial, der, "
        + "status, issued_at, revoked_at, revocation_reason, invalidity_date, crl_partition"
    package static let deviceColumns =
        "vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, attestation, attestation_key, owner, "
        + "created_at, updated_at"
    package static let eventColumns = "sequence, at, actor, action, subject, from_state, to_state, detail"
    package static let crlColumns = "issuer, partition, number, this_update, next_update, der"

    package static func authority(_ raw: any RegistryRow) throws -> AuthorityRecord {
        let row = StoredRow(raw, table: "authorities", key: ["id"])
        return AuthorityRecord(
            id: try row.text("id"), kind: try row.enumeration(AuthorityKind.self, "kind"),
            vendor: try row.optionalParse("vendor", VendorName.init), certificateDER: try row.blob("certificate"),
            keyReference: try row.text("key_reference"),
            algorithm: try row.parse("algorithm", KeySpec.init(policyName:)),
            createdAt: try row.date("created_at"))
    }

    package static func vendor(_ raw: any RegistryRow) throws -> VendorRecord {
        let row = StoredRow(raw, table: "vendors", key: ["name"])
        return VendorRecord(
            name: try row.parse("name", VendorName.init), authorityID: try row.text("authority_id"),
            state: try row.enumeration(VendorState.self, "state"), createdAt: try row.date("created_at"))
    }

    package static func key(_ raw: any RegistryRow) throws -> KeyRecord {
        let row = StoredRow(raw, table: "keys", key: ["fingerprint"])
        return KeyRecord(
            fingerprint: try row.text("fingerprint"), subjectPublicKeyInfo: try row.blob("spki"),
            algorithm: try row.parse("algorithm", KeySpec.init(policyName:)),
            custody: try row.enumeration(KeyCustodyKind.self, "custody"), location: try row.optionalText("location"),
            createdAt: try row.date("created_at"))
    }

    package static func certificate(_ raw: any RegistryRow) throws -> CertificateRecord {
        let row = StoredRow(raw, table: "certificates", key: ["issuer", "serial"])
        let status = try row.enumeration(CertificateStatus.self, "status")
        return CertificateRecord(
            issuer: try row.text("issuer"), serial: try row.text("serial"), profile: try row.text("profile"),
            subject: try row.text("subject"), notBefore: try row.date("not_before"),
            notAfter: try row.date("not_after"),
            keyFingerprint: try row.text("key_fingerprint"), device: try device(row, "device_vendor", "device_serial"),
            der: try row.blob("der"), status: status, issuedAt: try row.date("issued_at"),
            revocation: try revocation(row, status: status), crlScope: try crlScope(row))
    }

    /// A certificate as revocation sees it; the query joins `devices` for `device_state`.
    package static func certificateRef(_ raw: any RegistryRow) throws -> CertificateRef {
        let row = StoredRow(raw, table: "certificates", key: ["issuer", "serial"])
        let status = try row.enumeration(CertificateStatus.self, "status")
        return CertificateRef(
            issuer: try row.text("issuer"), serial: try row.text("serial"), profile: try row.text("profile"),
            device: try device(row, "device_vendor", "device_serial"),
            deviceState: try row.optionalEnumeration(DeviceState.self, "device_state"), status: status,
            revocation: try revocation(row, status: status))
    }

    package static func revokedEntry(_ raw: any RegistryRow) throws -> ScopedRevokedCertificate {
        let row = StoredRow(raw, table: "certificates", key: ["issuer", "serial"])
        let serial = try row.text("serial")
        guard let bytes = Hex.decode(serial), !bytes.isEmpty else {
            throw row.unrecognised("serial", serial, expected: "a hexadecimal serial number")
        }
        guard let info = try revocation(row, status: .revoked) else {
            throw row.unrecognised("revoked_at", "NULL", expected: "the time of revocation of a revoked certificate")
        }
        return ScopedRevokedCertificate(
            entry: RevokedCertificate(
                serial: bytes, revocationDate: info.revokedAt, reason: info.reason,
                invalidityDate: info.invalidityDate),
            scope: try crlScope(row))
    }

    package static func device(_ raw: any RegistryRow) throws -> DeviceRecord {
        let row = StoredRow(raw, table: "devices", key: ["vendor", "serial"])
        var hardware: HardwareModuleName?
        if let type = try row.optionalText("hw_type"), let serial = try row.optionalBlob("hw_serial") {
            do {
                hardware = HardwareModuleName(
                    hardwareType: try ASN1ObjectIdentifier(dotRepresentation: type), serialNumber: serial)
            } catch {
                throw row.unrecognised("hw_type", type, expected: "a dotted object identifier")
            }
        }
        var attestation: FactoryAttestation?
        if let statement = try row.optionalBlob("attestation") {
            attestation = FactoryAttestation(statement: statement, attestationKey: try row.blob("attestation_key"))
        }
        return DeviceRecord(
            id: DeviceID(
                vendor: try row.parse("vendor", VendorName.init), serial: try row.parse("serial", DeviceSerial.init)),
            state: try row.enumeration(DeviceState.self, "state"), lot: try row.optionalText("lot"),
            keyFingerprint: try row.text("key_fingerprint"), hardwareModule: hardware, attestation: attestation,
            owner: try row.optionalText("owner"), createdAt: try row.date("created_at"),
            updatedAt: try row.date("updated_at"))
    }

    package static func event(_ raw: any RegistryRow) throws -> LifecycleEvent {
        let row = StoredRow(raw, table: "events", key: ["sequence"])
        let detailText = try row.text("detail")
        guard let detail = try? JSONDecoder().decode([String: String].self, from: Data(detailText.utf8)) else {
            throw row.unrecognised("detail", detailText, expected: "a JSON object of strings")
        }
        return LifecycleEvent(
            sequence: try row.integer("sequence"), at: try row.date("at"), actor: try row.text("actor"),
            action: try row.enumeration(EventAction.self, "action"),
            subject: try row.parse("subject", EventSubject.init(parsing:)),
            fromState: try row.optionalText("from_state"),
            toState: try row.optionalText("to_state"), detail: detail)
    }

    package static func revocationNotice(_ raw: any RegistryRow) throws -> RevocationNotice {
        let row = StoredRow(raw, table: "events", key: ["sequence"])
        let sequence = try row.integer("sequence")
        return try row.parse("subject") { try RevocationNotice(sequence: sequence, eventSubject: $0) }
    }

    package static func owner(_ raw: any RegistryRow) throws -> OwnerRecord {
        let row = StoredRow(raw, table: "owners", key: ["name"])
        return OwnerRecord(name: try row.text("name"), createdAt: try row.date("created_at"))
    }

    package static func manifest(_ raw: any RegistryRow) throws -> ImportedManifest {
        let row = StoredRow(raw, table: "manifests", key: ["digest"])
        return ImportedManifest(
            digest: try row.text("digest"), vendor: try row.parse("vendor", VendorName.init), lot: try row.text("lot"),
            owner: try row.text("owner"), deviceCount: try row.int("device_count"),
            importedAt: try row.date("imported_at"))
    }

    package static func publishedCRL(_ raw: any RegistryRow) throws -> PublishedCRL {
        let row = StoredRow(raw, table: "crls", key: ["issuer", "partition"])
        return PublishedCRL(
            issuer: try row.text("issuer"), scope: try scope(row, "partition"), number: try row.integer("number"),
            thisUpdate: try row.date("this_update"), nextUpdate: try row.date("next_update"), der: try row.blob("der"))
    }

    package static func crlScopeValue(_ raw: any RegistryRow) throws -> CRLScope {
        try scope(StoredRow(raw, table: "certificates", key: ["crl_partition"]), "crl_partition")
    }

    // MARK: Parts

    static func device(_ row: StoredRow, _ vendorColumn: String, _ serialColumn: String) throws -> DeviceID? {
        guard let vendor = try row.optionalParse(vendorColumn, VendorName.init),
            let serial = try row.optionalParse(serialColumn, DeviceSerial.init)
        else { return nil }
        return DeviceID(vendor: vendor, serial: serial)
    }

    /// The revocation facts of a certificate row, which must agree with its status.
    static func revocation(_ row: StoredRow, status: CertificateStatus) throws -> RevocationInfo? {
        let revokedAt = try row.optionalDate("revoked_at")
        switch (status, revokedAt) {
        case (.valid, nil):
            return nil
        case (.valid, .some):
            throw row.unrecognised("status", "valid", expected: "consistent with its revocation time (it is revoked)")
        case (.revoked, nil):
            throw row.unrecognised("revoked_at", "NULL", expected: "the time of revocation of a revoked certificate")
        case (.revoked, let at?):
            let code = try row.integer("revocation_reason")
            guard let reason = Int(exactly: code).flatMap(RevocationReason.init(rawValue:)) else {
                throw row.unrecognised(
                    "revocation_reason", "\(code)", expected: "an RFC 5280 CRLReason code (0-6, 8-10)")
            }
            return RevocationInfo(
                revokedAt: at, reason: reason, invalidityDate: try row.optionalDate("invalidity_date"))
        }
    }

    static func crlScope(_ row: StoredRow) throws -> CRLScope? {
        guard try row.optionalInteger("crl_partition") != nil else { return nil }
        return try scope(row, "crl_partition")
    }

    static func scope(_ row: StoredRow, _ column: String) throws -> CRLScope {
        let value = try row.integer(column)
        do {
            return try CRLScope(storedValue: Int(value))
        } catch {
            throw row.unrecognised(column, "\(value)", expected: "a CRL scope (-1 or a partition index)")
        }
    }
}
