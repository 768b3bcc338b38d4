import Foundation
import SwiftASN1
@_spi(CMS) import X509

/// Writes a lot's signed manifest: every provisioned device of the lot, with its certificate and attestation,
/// in a CMS SignedData (RFC 5652) signed by the vendor's manifest-signing certificate.
///
/// The signature carries the signer's chain up to (not including) the root, and the content-type, message-digest
/// and signing-time attributes (RFC 5652 §11), so `openssl cms -verify -CAfile root.pem` checks it unaided.
public struct ManifestExporter: Sendable {
    public let ecosystem: Ecosystem
    public let supplyChain: any SupplyChainStore

    public init(ecosystem: Ecosystem, supplyChain: any SupplyChainStore) {
        self.ecosystem = ecosystem
        self.supplyChain = supplyChain
    }

    /// A signed manifest and what went into it.
    public struct Export: Sendable {
        public var bytes: [UInt8]
        public var document: ManifestDocument
        /// Devices of the lot left out: not yet provisioned (an interrupted factory run), revoked or retired.
        public var skipped: [DeviceID: DeviceState]
    }

    public func export(
        vendor: VendorName, lot: String, buyer: String?,
        signer: (certificate: Certificate, key: Certificate.PrivateKey),
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) async throws -> Export {
        guard let vendorRecord = try await ecosystem.store.vendor(named: vendor),
            let authority = try await ecosystem.store.authority(id: vendorRecord.authorityID)
        else {
            throw FleetkeyError(.notFound, "unknown vendor '\(vendor)'")
        }
        let devices = try await ecosystem.store.devices(matching: DeviceFilter(vendor: vendor, lot: lot))
        // One read for the whole lot's certificates, not one per device.
        let certificatesByDevice = Dictionary(
            grouping: try await supplyChain.certificates(vendor: vendor, lot: lot), by: { $0.device })
        guard !devices.isEmpty else {
            throw FleetkeyError(.notFound, "vendor '\(vendor)' has no lot '\(lot)' (see `fleetkey lot show`)")
        }
        var entries: [ManifestEntry] = []
        var skipped: [DeviceID: DeviceState] = [:]
        entries.reserveCapacity(devices.count)
        for (index, device) in devices.enumerated() {
            progress?(index, devices.count)
            guard [.provisioned, .shipped].contains(device.state), let attestation = device.attestation,
                let hardware = device.hardwareModule
            else {
                skipped[device.id] = device.state
                continue
            }
            guard
                let record = certificatesByDevice[device.id]?.last(where: {
                    $0.status == .valid && $0.keyFingerprint == device.keyFingerprint
                })
            else {
                skipped[device.id] = device.state
                continue
            }
            let certificate = try Certificate(derEncoded: record.der)
            entries.append(
                ManifestEntry(
                    serial: device.id.serial.value,
                    hardwareModule: .init(type: hardware.hardwareType.description, serial: hardware.serialText),
                    publicKey: Self.base64(certificate.publicKey.subjectPublicKeyInfoDER),
                    certificate: Self.base64(record.der), attestation: Self.base64(attestation.statement),
                    attestationKey: Self.base64(attestation.attestationKey)))
        }
        progress?(devices.count, devices.count)
        guard !entries.isEmpty else {
            throw FleetkeyError(
                .invalidTransition,
                "lot '\(lot)' of '\(vendor)' has no provisioned device to ship (\(skipped.count) not provisioned, "
                    + "revoked or retired)")
        }
        let document = ManifestDocument(
            ecosystem: ecosystem.policy.ecosystem, vendor: vendor.value, lot: lot, buyer: buyer,
            createdAt: ecosystem.clock.now(), chain: [Self.base64(authority.certificateDER)], devices: entries)
        let bytes = try Self.sign(
            document, signer: signer, vendorCA: try Certificate(derEncoded: authority.certificateDER),
            at: ecosystem.clock.now())
        return Export(bytes: bytes, document: document, skipped: skipped)
    }

    /// Signs manifest content: CMS SignedData, content attached, signer and vendor CA certificates included, with
    /// the content-type, message-digest and signing-time signed attributes.
    public static func sign(
        _ document: ManifestDocument, signer: (certificate: Certificate, key: Certificate.PrivateKey),
        vendorCA: Certificate, at signingTime: Date
    ) throws -> [UInt8] {
        try CMS.sign(
            try document.encoded(), signatureAlgorithm: try KeySpec(signer.certificate.publicKey).signatureAlgorithm,
            additionalIntermediateCertificates: [vendorCA], certificate: signer.certificate, privateKey: signer.key,
            signingTime: signingTime, detached: false)
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}
