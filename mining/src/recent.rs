//! Recent jobs by id, oldest out first: what both families' job boards keep so a late
//! submission can still be checked, and what makes older work stale.

use std::collections::{HashMap, VecDeque};

/// At most `capacity` values by id; inserting beyond it drops the oldest.
#[derive(Debug)]
pub struct Recent<T> {
    by_id: HashMap<u64, T>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl<T> Recent<T> {
    pub fn new(capacity: usize) -> Recent<T> {
        Recent {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn insert(&mut self, id: u64, value: T) {
        if self.by_id.insert(id, value).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    pub fn get(&self, id: u64) -> Option<&T> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_and_the_bound_holds() {
        let mut r = Recent::new(3);
        for id in 1..=5 {
            r.insert(id, id * 10);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.get(2), None);
        assert_eq!(r.get(3), Some(&30));
        assert_eq!(r.get(5), Some(&50));
        // Re-inserting an id replaces its value without taking a second slot.
        r.insert(5, 51);
        assert_eq!((r.len(), r.get(5), r.get(3)), (3, Some(&51), Some(&30)));
    }
}
