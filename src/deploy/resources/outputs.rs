//! What the actions of one apply produce for later actions and for the
//! run's report, kept by type: each producing kind defines the type of
//! what it produces next to its actions (a new API's id, a published
//! version, a check verdict), so adding one touches no shared struct.
//! Holds values only; never decides anything about them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;

/// A value an action may produce: plain data, cloned with the outputs.
pub(crate) trait Output: Any + Clone + Debug + Send + Sync {}

impl<T: Any + Clone + Debug + Send + Sync> Output for T {}

/// The outputs of an apply, at most one of each type.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    values: HashMap<TypeId, Box<dyn Stored>>,
}

impl Clone for Outputs {
    fn clone(&self) -> Outputs {
        Outputs {
            values: self
                .values
                .iter()
                .map(|(id, value)| (*id, value.as_ref().clone_box()))
                .collect(),
        }
    }
}

impl Outputs {
    /// Records `value`, replacing an earlier one of its type.
    pub(crate) fn put<T: Output>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T`, if an action produced one.
    pub(crate) fn get<T: Output>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())?
            .as_ref()
            .as_any()
            .downcast_ref()
    }

    /// The value of type `T`, made with its default first if there is
    /// none yet (for what several actions add to).
    pub(crate) fn get_mut<T: Output + Default>(&mut self) -> &mut T {
        let value = self
            .values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match value.as_mut().as_any_mut().downcast_mut() {
            Some(value) => value,
            None => unreachable!("values are stored under their own type's id"),
        }
    }

    /// Takes the value of type `T` out.
    pub(crate) fn take<T: Output>(&mut self) -> Option<T> {
        let value = self.values.remove(&TypeId::of::<T>())?;
        value.into_any().downcast().ok().map(|value| *value)
    }
}

/// What the map holds: a value that can be cloned and looked at as
/// `Any` (written out rather than by trait upcasting, which needs a newer
/// Rust than the crate's `rust-version`).
trait Stored: Debug + Send + Sync {
    fn clone_box(&self) -> Box<dyn Stored>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Output> Stored for T {
    fn clone_box(&self) -> Box<dyn Stored> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Made(String);

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Seen(Vec<u32>);

    #[test]
    fn each_type_is_kept_apart_and_cloned_with_the_rest() {
        let mut outputs = Outputs::default();
        assert_eq!(outputs.get::<Made>(), None);
        outputs.put(Made("one".into()));
        outputs.put(Made("two".into()));
        outputs.get_mut::<Seen>().0.push(1);
        outputs.get_mut::<Seen>().0.push(2);
        let copy = outputs.clone();
        assert_eq!(outputs.take::<Made>(), Some(Made("two".into())));
        assert_eq!(outputs.get::<Made>(), None, "taken");
        assert_eq!(copy.get::<Made>(), Some(&Made("two".into())));
        assert_eq!(copy.get::<Seen>(), Some(&Seen(vec![1, 2])));
    }
}
