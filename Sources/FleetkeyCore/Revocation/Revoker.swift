import Foundation
import SwiftASN1
import X509

/// Revokes certificates: by serial, device, lot or vendor, through the lifecycle state machine.
///
/// It reads the selection, plans every certificate and device change (devices move to `revoked` through
/// ``DeviceLifecycle``), and hands the plan to the store as one unit of work that applies only if nothing
/// changed meanwhile; on a conflict it re-reads and plans again.
public struct Revoker: Sendable {
    public let store: any RegistryStore & RevocationStore
    public let clock: any WallClock
    public let actor: String
    let lifecycle = DeviceLifecycle()
    static let attempts = 3

    public init(store: any RegistryStore & RevocationStore, clock: any WallClock = SystemWallClock(), actor: String) {
        self.store = store
        self.clock = clock
        self.actor = actor
    }

    public func revoke(_ target: RevocationTarget, reason: RevocationReason, invalidityDate: Date? = nil) async throws
        -> RevocationReport
    {
        for attempt in 1...Self.attempts {
            let (refs, vendor) = try await select(target)
            let pending = refs.filter { $0.status == .valid }
            let now = clock.now()
            if let invalidityDate, invalidityDate > now {
                throw FleetkeyError(
                    .invalidArgument, "--invalidity-date is in the future; it must be when the key was compromised")
            }
            let info = RevocationInfo(revokedAt: now, reason: reason, invalidityDate: invalidityDate)
            var transitions: [RevocationUnit.DeviceTransition] = []
            var seen = Set<DeviceID>()
            for ref in pending {
                guard let device = ref.device, let state = ref.deviceState, !state.isTerminal,
                    seen.insert(device).inserted
                else { continue }
                transitions.append(.init(device: device, from: state, to: try lifecycle.next(from: state, on: .revoke)))
            }
            var vendorAlreadyRevoked = true
            if let vendor { vendorAlreadyRevoked = try await store.vendor(named: vendor)?.state == .revoked }
            if pending.isEmpty && vendorAlreadyRevoked {
                return RevocationReport(revoked: [], alreadyRevoked: refs.count, devices: 0, issuers: [])
            }
            var events = pending.map { ref in
                LifecycleEvent(
                    at: now, actor: actor, action: "certificate.revoked",
                    subject: "certificate:\(ref.issuer)/\(ref.serial)",
                    fromState: CertificateStatus.valid.rawValue, toState: CertificateStatus.revoked.rawValue,
                    detail: ["reason": reason.name, "target": target.description])
            }
            events += transitions.map { transition in
                LifecycleEvent(
                    at: now, actor: actor, action: "device.revoked", subject: "device:\(transition.device)",
                    fromState: transition.from.rawValue, toState: transition.to.rawValue,
                    detail: ["reason": reason.name])
            }
            if let vendor {
                events.append(
                    LifecycleEvent(
                        at: now, actor: actor, action: "vendor.revoked", subject: "vendor:\(vendor)",
                        fromState: VendorState.active.rawValue, toState: VendorState.revoked.rawValue,
                        detail: ["reason": reason.name]))
            }
            let unit = RevocationUnit(
                certificates: pending.map { .init(issuer: $0.issuer, serial: $0.serial) }, info: info,
                devices: transitions,
                vendor: vendor, events: events)
            do {
                try await store.apply(unit)
                return RevocationReport(
                    revoked: pending, alreadyRevoked: refs.count - pending.count, devices: transitions.count,
                    issuers: Set(pending.map(\.issuer)))
            } catch let error as FleetkeyError where error.code == .conflict && attempt < Self.attempts {
                continue
            }
        }
        throw FleetkeyError(.conflict, "\(target) kept changing under concurrent writers; try again")
    }

    /// The certificates a target selects, and the vendor it revokes (for `.vendor`).
    func select(_ target: RevocationTarget) async throws -> ([CertificateRef], VendorName?) {
        let refs: [CertificateRef]
        switch target {
        case .certificate(let serial, let issuer):
            guard let bytes = Hex.decode(serial) else {
                throw FleetkeyError(.invalidArgument, "--serial '\(serial)' is not hexadecimal")
            }
            refs = try await store.certificateRefs(
                .certificate(issuer: issuer, serial: Hex.upper(bytes.drop { $0 == 0 })))
            guard refs.count <= 1 else {
                throw FleetkeyError(
                    .invalidArgument,
                    "serial \(serial) was issued by several CAs (\(refs.map(\.issuer).joined(separator: ", "))); name one with --issuer"
                )
            }
        case .device(let serial, let vendor):
            refs = try await store.certificateRefs(
                vendor.map { .device(DeviceID(vendor: $0, serial: serial)) } ?? .deviceSerial(serial))
            let vendors = Set(refs.compactMap { $0.device?.vendor })
            guard vendors.count <= 1 else {
                throw FleetkeyError(
                    .invalidArgument,
                    "device serial \(serial) exists for several vendors (\(vendors.map(\.value).sorted().joined(separator: ", "))); name one with --vendor-name"
                )
            }
        case .lot(let name, let vendor):
            refs = try await store.certificateRefs(.lot(vendor: vendor, name: name))
        case .vendor(let name):
            guard let vendor = try await store.vendor(named: name),
                let authority = try await store.authority(id: vendor.authorityID)
            else {
                throw FleetkeyError(.notFound, "unknown vendor '\(name)'; see `fleetkey vendor list`")
            }
            let caSerial = try Certificate(derEncoded: authority.certificateDER).serialNumber.hexString
            let own = try await store.certificateRefs(.certificate(issuer: "root", serial: caSerial))
            return (own + (try await store.certificateRefs(.issuer(vendor.authorityID))), name)
        }
        guard !refs.isEmpty else {
            throw FleetkeyError(.notFound, "no certificate matches \(target) in the registry")
        }
        return (refs, nil)
    }
}
