import FleetkeyCore
import Testing

@Suite("Device lifecycle state machine")
struct DeviceLifecycleTests {
    let machine = DeviceLifecycle()

    @Test("the happy path of DESIGN.md runs from generated to decommissioned")
    func happyPath() throws {
        var state = DeviceState.generated
        for (event, expected) in [
            (DeviceLifecycleEvent.provision, DeviceState.provisioned), (.ship, .shipped), (.commission, .commissioned),
            (.activate, .active), (.suspend, .suspended), (.resume, .active), (.decommission, .decommissioned),
        ] {
            state = try machine.next(from: state, on: event)
            #expect(state == expected)
        }
    }

    @Test("revocation is reachable from every state that is not terminal, generated included, and is final")
    func revocation() throws {
        for state in DeviceState.allCases where !state.isTerminal {
            #expect(try machine.next(from: state, on: .revoke) == .revoked, "revoke from \(state)")
        }
        for event in DeviceLifecycleEvent.allCases {
            #expect(throws: FleetkeyError(.invalidTransition, "")) { try machine.next(from: .revoked, on: event) }
            #expect(throws: FleetkeyError(.invalidTransition, "")) {
                try machine.next(from: .decommissioned, on: event)
            }
        }
    }

    @Test("an invalid transition names the state, the event and what is allowed")
    func invalidTransitionMessage() {
        do {
            _ = try machine.next(from: .provisioned, on: .activate)
            Issue.record("activate from provisioned must fail")
        } catch {
            #expect(error.code == .invalidTransition)
            #expect(error.reason.contains("cannot activate a device that is provisioned"))
            #expect(error.reason.contains("ship, revoke"))
        }
    }

    @Test("each invalid transition is refused with both states named: where the device is, and where it would go")
    func everyInvalidTransitionNamesBothStates() {
        var refused = 0
        for state in DeviceState.allCases {
            for event in DeviceLifecycleEvent.allCases where !DeviceLifecycle.allowedEvents(from: state).contains(event)
            {
                #expect(throws: FleetkeyError(.invalidTransition, "")) { try machine.next(from: state, on: event) }
                do {
                    _ = try machine.next(from: state, on: event)
                } catch {
                    #expect(
                        error.reason.contains("a device that is \(state.rawValue)")
                            && error.reason.contains("\(state.rawValue) → \(event.target.rawValue)"), "\(error.reason)")
                    refused += 1
                }
            }
        }
        #expect(refused > 50)
        // For example: commissioning a retired device.
        #expect(throws: FleetkeyError(.invalidTransition, "")) {
            try machine.next(from: .decommissioned, on: .commission)
        }
    }

    @Test("every allowed event leads where it says; a release is left by a claim, back to shipped")
    func targets() throws {
        for state in DeviceState.allCases {
            for event in DeviceLifecycle.allowedEvents(from: state) {
                #expect(try machine.next(from: state, on: event) == event.target, "\(event) from \(state)")
            }
        }
        for state in [DeviceState.shipped, .commissioned, .active, .suspended] {
            #expect(try machine.next(from: state, on: .release) == .released)
            #expect(try machine.next(from: state, on: .decommission) == .decommissioned)
        }
        #expect(try machine.next(from: .released, on: .claim) == .shipped)
        #expect(DeviceLifecycle.allowedEvents(from: .released) == [.revoke, .claim])
        #expect(!DeviceState.released.isTerminal)
    }

    @Test("every state/event pair either moves or throws; no silent no-op")
    func total() {
        for state in DeviceState.allCases {
            for event in DeviceLifecycleEvent.allCases {
                let allowed = DeviceLifecycle.allowedEvents(from: state).contains(event)
                let result = Result { try machine.next(from: state, on: event) }
                switch result {
                case .success(let next): #expect(allowed && next != state || event == .resume)
                case .failure: #expect(!allowed)
                }
            }
        }
    }
}
