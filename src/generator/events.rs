//! Contract events as protocol 23 emits them (CAP-67 for classic operations and fees).
//!
//! - `transfer` on an asset's SAC: topics `[Symbol("transfer"), Address(from), Address(to),
//!   String(asset)]`, data `I128(amount)`, or `Map { amount, to_muxed_id }` when the
//!   destination is muxed.
//! - `fee` on the native SAC (transaction-level, `TransactionMetaV4.events`): topics
//!   `[Symbol("fee"), Address(fee_source)]`, data `I128(fee)`, before all transactions; a
//!   Soroban refund is a negative `fee` after all transactions.
//! - Contract-specific events of the AMM (`swap`) and the vault (`deposit`).

use stellar_xdr::{
    ContractEvent, ContractEventBody, ContractEventType, ContractEventV0, ContractId, ExtensionPoint,
    Int128Parts, ScAddress, ScMap, ScMapEntry, ScVal, TransactionEvent, TransactionEventStage,
};

use super::universe::{AssetId, Universe, symbol};

pub(super) fn i128_val(amount: i128) -> ScVal {
    ScVal::I128(Int128Parts { hi: (amount >> 64) as i64, lo: amount as u64 })
}

pub(super) fn contract_event(contract: &ContractId, topics: Vec<ScVal>, data: ScVal) -> ContractEvent {
    ContractEvent {
        ext: ExtensionPoint::V0,
        contract_id: Some(contract.clone()),
        type_: ContractEventType::Contract,
        body: ContractEventBody::V0(ContractEventV0 {
            topics: topics.try_into().expect("events have at most 4 topics"),
            data,
        }),
    }
}

/// A SAC `transfer` of `amount` stroops of `asset`.
pub(super) fn transfer(
    universe: &Universe,
    asset: AssetId,
    from: ScAddress,
    to: ScAddress,
    amount: i64,
    to_muxed_id: Option<u64>,
) -> ContractEvent {
    let info = universe.asset(asset);
    let amount_val = i128_val(i128::from(amount));
    let data = match to_muxed_id {
        None => amount_val,
        // Keys sorted, as an ScMap must be.
        Some(id) => ScVal::Map(Some(ScMap(
            vec![
                ScMapEntry { key: symbol("amount"), val: amount_val },
                ScMapEntry { key: symbol("to_muxed_id"), val: ScVal::U64(id) },
            ]
            .try_into()
            .expect("two entries"),
        ))),
    };
    let topics = vec![
        ScVal::Symbol(universe.symbols.transfer.clone()),
        ScVal::Address(from),
        ScVal::Address(to),
        info.topic.clone(),
    ];
    contract_event(&info.sac, topics, data)
}

/// A CAP-67 fee event on the native SAC: positive when charged, negative for a refund.
pub(super) fn fee(
    universe: &Universe,
    fee_source: ScAddress,
    amount: i64,
    stage: TransactionEventStage,
) -> TransactionEvent {
    let native = universe.asset(AssetId::Native);
    TransactionEvent {
        stage,
        event: contract_event(
            &native.sac,
            vec![ScVal::Symbol(universe.symbols.fee.clone()), ScVal::Address(fee_source)],
            i128_val(i128::from(amount)),
        ),
    }
}
