//! Builders sized up front (design §8): each `finish` leaves an empty builder with room for as
//! many values and bytes as the batch it just finished.
//!
//! Arrow's `finish` leaves an empty builder with no capacity, so every batch regrew its buffers
//! by doubling: a `details` column of 8 MB was reallocated and copied a dozen times, and the
//! copies touched twice the pages. Batches are cut to a configured size, so the last one is a
//! good estimate of the next, with a margin of [`HEADROOM`] because ledgers vary: without it,
//! about every other batch was a little larger than the one before and paid one doubling of
//! each large buffer (a copy and fresh pages). When a batch is larger still the buffers grow as
//! before; the excess is reserved but never written (and bounded by the previous batch plus the
//! margin). Capacity only changes where values are stored, never the values.

use arrow::array::{
    ArrayBuilder, BooleanArray, BooleanBuilder, GenericByteArray, GenericByteBuilder, GenericListArray,
    GenericListBuilder, PrimitiveArray, PrimitiveBuilder,
};
use arrow::datatypes::{ArrowPrimitiveType, ByteArrayType};

/// Room made for the next batch, over the size of the last one: a quarter.
const fn with_headroom(size: usize) -> usize {
    size + size / 4
}

/// `finish`, then make room in the emptied builder for a batch like the one finished.
pub(crate) trait FinishSized {
    type Array;
    fn finish_sized(&mut self) -> Self::Array;
}

impl<T: ByteArrayType> FinishSized for GenericByteBuilder<T> {
    type Array = GenericByteArray<T>;
    fn finish_sized(&mut self) -> Self::Array {
        let (values, bytes) = (self.len(), self.values_slice().len());
        let array = self.finish();
        *self = GenericByteBuilder::with_capacity(with_headroom(values), with_headroom(bytes));
        array
    }
}

impl<T: ArrowPrimitiveType> FinishSized for PrimitiveBuilder<T> {
    type Array = PrimitiveArray<T>;
    fn finish_sized(&mut self) -> Self::Array {
        let values = self.len();
        let array = self.finish();
        *self = PrimitiveBuilder::with_capacity(with_headroom(values));
        array
    }
}

impl FinishSized for BooleanBuilder {
    type Array = BooleanArray;
    fn finish_sized(&mut self) -> Self::Array {
        let values = self.len();
        let array = self.finish();
        *self = BooleanBuilder::with_capacity(with_headroom(values));
        array
    }
}

/// Lists of strings or binaries (the only lists in the tables): the list offsets and the
/// child builder are both sized.
impl<T: ByteArrayType> FinishSized for GenericListBuilder<i32, GenericByteBuilder<T>> {
    type Array = GenericListArray<i32>;
    fn finish_sized(&mut self) -> Self::Array {
        let lists = self.len();
        let (values, bytes) = (self.values().len(), self.values().values_slice().len());
        let array = self.finish();
        let child = GenericByteBuilder::with_capacity(with_headroom(values), with_headroom(bytes));
        *self = GenericListBuilder::with_capacity(child, with_headroom(lists));
        array
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, ListBuilder, StringBuilder, TimestampMicrosecondBuilder};

    use super::*;

    #[test]
    fn sized_builders_finish_like_fresh_ones() {
        let mut strings = StringBuilder::new();
        let mut lists = ListBuilder::new(StringBuilder::new());
        let mut times = TimestampMicrosecondBuilder::new();
        for round in 0..3 {
            strings.append_value("abc");
            strings.append_null();
            lists.values().append_value("x");
            lists.append(true);
            lists.append(false);
            times.append_value(round);
            let finished = strings.finish_sized();
            assert_eq!(finished.len(), 2);
            assert_eq!(finished.value(0), "abc");
            assert!(finished.is_null(1));
            assert!(strings.is_empty() && strings.values_slice().is_empty());
            let list = lists.finish_sized();
            assert_eq!((list.len(), list.null_count(), list.values().len()), (2, 1, 1));
            assert_eq!(times.finish_sized().with_timezone("UTC").value(0), round);
        }
    }
}
