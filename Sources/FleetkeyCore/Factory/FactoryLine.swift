import Crypto
import Foundation
import SwiftASN1
import X509

/// The factory line: puts a unique identity into each device's secure element, one device at a time.
///
/// For each device (DESIGN.md, "The lifecycle of one device key"):
/// 1. the element generates the identity key inside its identity slot;
/// 2. it signs a PKCS#10 request inside (subject O=vendor, serialNumber, and the element's hardwareModuleName);
/// 3. the vendor CA checks, lints, signs and records the certificate; the device is registered as `generated`;
/// 4. the certificate is written into the slot and the slot is locked;
/// 5. the element attests the key, with the SHA-256 of the certificate as the challenge, the line checks that
///    attestation, and the device moves to `provisioned` with its attestation, in one transaction.
///
/// Interrupting it at any point is safe: a device is `provisioned` only once its element is locked and its
/// attestation recorded. Running the lot again skips provisioned devices and finishes a device that stopped
/// between steps, reusing the key its element already holds, so no device ever gets a second key or certificate.
public struct FactoryLine: Sendable {
    public let ecosystem: Ecosystem
    public let supplyChain: any SupplyChainStore
    public let elements: any SecureElementSource
    public let vendor: VendorName
    public let lot: String
    public let hardwareType: ASN1ObjectIdentifier

    /// What provisioning one device did.
    public enum Outcome: String, Sendable, Hashable {
        /// Provisioned from scratch in this run.
        case provisioned
        /// Found half-way from an earlier, interrupted run, and finished.
        case finished
        /// Already provisioned by an earlier run; nothing done.
        case alreadyProvisioned = "already-provisioned"
    }

    /// The longest lot name; lots name devices and elements, so they use the characters both allow.
    public static let maximumLotLength = 32

    public init(
        ecosystem: Ecosystem, supplyChain: any SupplyChainStore, elements: any SecureElementSource, vendor: VendorName,
        lot: String
    ) throws {
        try Self.checkLot(lot)
        guard let hardwareType = try? ASN1ObjectIdentifier(dotRepresentation: ecosystem.policy.hardwareModuleType)
        else {
            throw FleetkeyError(
                .configuration,
                "policy.json hardwareModuleType '\(ecosystem.policy.hardwareModuleType)' is not a dotted object identifier"
            )
        }
        self.ecosystem = ecosystem
        self.supplyChain = supplyChain
        self.elements = elements
        self.vendor = vendor
        self.lot = lot
        self.hardwareType = hardwareType
    }

    /// Refuses lot names that are not ``LotName``s, or too long to prefix a device serial.
    public static func checkLot(_ lot: String) throws {
        _ = try LotName(lot, field: "--lot")
        guard lot.utf8.count <= maximumLotLength else {
            throw FleetkeyError(
                .invalidArgument,
                "--lot '\(lot)' has \(lot.utf8.count) characters; factory lots have at most \(maximumLotLength), as "
                    + "they prefix each device serial")
        }
    }

    /// The serial of the lot's device number `index` (1-based): `LOT-000001`. Serials follow from the lot and the
    /// index alone, which is what makes a rerun continue the same lot.
    public func serial(_ index: Int) throws -> DeviceSerial {
        try DeviceSerial("\(lot)-\(String(format: "%06d", index))")
    }

    /// The element id of a device: the vendor CA's id and the device serial, unique across vendors on one token.
    public func elementID(for serial: DeviceSerial) -> String {
        "\(vendor.authorityID).\(serial.value)"
    }

    /// Provisions device number `index` of the lot, or finishes or skips it as the registry and element say.
    public func provision(_ index: Int, by authority: CertificateAuthority) async throws -> Outcome {
        let serial = try serial(index)
        let deviceID = DeviceID(vendor: vendor, serial: serial)
        let elementID = elementID(for: serial)
        let existing = try await ecosystem.store.device(deviceID)
        if let existing {
            guard existing.state == .generated else {
                guard existing.lot == lot else {
                    throw FleetkeyError(
                        .conflict,
                        "device \(deviceID) exists in lot '\(existing.lot ?? "none")', not '\(lot)'; choose another lot name"
                    )
                }
                return .alreadyProvisioned
            }
        }
        let element = try elements.existingElement(elementID) ?? elements.newElement(elementID)
        // Read once: the steps below change the slot only in ways this function makes itself.
        let status = try Self.identitySlot(of: element)
        let slot = status.configuration.slot
        let hardwareModule = HardwareModuleName(hardwareType: hardwareType, serialNumber: Array(elementID.utf8))

        let certificate: Certificate
        var device: DeviceRecord
        if let existing {
            // Recorded by an interrupted run: finish with the certificate the registry holds for this key.
            guard let record = try await ecosystem.store.certificates(forDevice: deviceID).last else {
                throw FleetkeyError(.conflict, "device \(deviceID) is registered without a certificate; revoke it")
            }
            certificate = try Certificate(derEncoded: record.der)
            guard status.keyState == .present, try element.publicKey(inSlot: slot) == certificate.publicKey else {
                throw FleetkeyError(
                    .conflict,
                    "device \(deviceID) is registered with a key its element '\(elementID)' does not hold; revoke it "
                        + "rather than provision it again")
            }
            device = existing
        } else {
            if status.locked {
                throw FleetkeyError(
                    .conflict,
                    "secure element '\(elementID)' is locked but device \(deviceID) is not in the registry; set the "
                        + "element aside")
            }
            if status.keyState == .empty {
                _ = try element.generateKey(inSlot: slot)
            } else if status.keyState != .present {
                throw FleetkeyError(
                    .conflict, "secure element '\(elementID)' slot \(slot) is \(status.keyState.rawValue); set it aside"
                )
            }
            let request = try RequestBuilder.deviceRequest(
                vendor: vendor, serial: serial, hardwareModule: hardwareModule,
                key: try element.signingKey(inSlot: slot))
            let issued = try await ecosystem.issueDeviceIdentity(
                .init(
                    csr: try request.derBytes(), hardwareModule: hardwareModule, lot: lot, keyCustody: .secureElement,
                    keyLocation: elementID, provisions: false),
                by: authority)
            certificate = issued.certificate
            device = issued.device
        }

        if !status.hasCertificate {
            try element.writeCertificate(certificate, toSlot: slot)
        }
        if !status.locked {
            try element.lock(slot: slot)
        }
        let attestationKey = try element.attestationPublicKey()
        let challenge = Array(SHA256.hash(data: try certificate.derBytes()))
        let attestation = try element.attest(slot: slot, nonce: challenge)
        _ = try KeyAttestationVerifier(trusting: attestationKey).verify(
            attestation,
            .init(
                nonce: challenge, elementID: elementID, slot: slot, publicKey: certificate.publicKey,
                requireLocked: true))

        let now = ecosystem.clock.now()
        let from = device.state
        device.state = try DeviceLifecycle().next(from: from, on: .provision)
        device.attestation = FactoryAttestation(
            statement: try attestation.derBytes(), attestationKey: attestationKey.subjectPublicKeyInfoDER)
        device.updatedAt = now
        try await supplyChain.change(
            DeviceChange(device: device, expectedState: from),
            events: [
                ecosystem.event(
                    .deviceProvisioned, subject: .device(deviceID), from: from.rawValue, to: device.state.rawValue,
                    detail: [
                        "certificate": certificate.serialNumber.hexString, "element": elementID, "lot": lot,
                    ])
            ], issuer: authority.issuing)
        return existing == nil ? .provisioned : .finished
    }

    /// The state of the element's device-identity slot.
    static func identitySlot(of element: any SecureElement) throws -> SecureElementSlotStatus {
        guard let slot = try element.slots().first(where: { $0.configuration.purpose == .deviceIdentity }) else {
            throw FleetkeyError(
                .configuration, "secure element '\(element.elementID)' has no device-identity slot")
        }
        return slot
    }
}
