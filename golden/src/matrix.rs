//! A minimal dense row-major matrix: just enough to hold weights, activations and results with checked shapes.

use crate::ShapeError;

/// A `rows × cols` matrix stored row-major; the constructor guarantees `data.len() == rows * cols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Wraps row-major `data`; fails unless it holds exactly `rows · cols` elements.
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self, ShapeError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(ShapeError::DataLength {
                rows,
                cols,
                len: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Builds a matrix element by element from `f(row, col)`.
    ///
    /// Like `vec!`, an element count beyond `usize` is a capacity overflow rather than a silent wrap.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(rows.saturating_mul(cols));
        for r in 0..rows {
            data.extend((0..cols).map(|c| f(r, c)));
        }
        Self { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The element at (`r`, `c`), or `None` outside the matrix.
    pub fn get(&self, r: usize, c: usize) -> Option<&T> {
        if r < self.rows && c < self.cols {
            self.data.get(r * self.cols + c)
        } else {
            None
        }
    }

    /// Overwrites the element at (`r`, `c`).
    pub fn set(&mut self, r: usize, c: usize, value: T) -> Result<(), ShapeError> {
        let out_of_range = ShapeError::OutOfRange {
            row: r,
            col: c,
            rows: self.rows,
            cols: self.cols,
        };
        if r >= self.rows || c >= self.cols {
            return Err(out_of_range);
        }
        let slot = self.data.get_mut(r * self.cols + c).ok_or(out_of_range)?;
        *slot = value;
        Ok(())
    }

    /// Row `r` as a slice; an empty slice for `r ≥ rows`, so iterating `0..rows()` never needs a check.
    pub fn row(&self, r: usize) -> &[T] {
        let start = r.saturating_mul(self.cols);
        self.data
            .get(start..start.saturating_add(self.cols))
            .filter(|_| r < self.rows)
            .unwrap_or(&[])
    }

    /// All elements, row-major.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    pub fn into_data(self) -> Vec<T> {
        self.data
    }
}

impl<T: Clone> Matrix<T> {
    /// The transposed matrix (`cols × rows`).
    pub fn transpose(&self) -> Self {
        Self::from_fn(self.cols, self.rows, |r, c| {
            self.data[c * self.cols + r].clone()
        })
    }
}

impl<T: Clone + Default> Matrix<T> {
    /// A `rows × cols` matrix of `T::default()` (zeros for the integer types).
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self::from_fn(rows, cols, |_, _| T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_length() {
        assert!(Matrix::new(2, 3, vec![0i8; 6]).is_ok());
        assert_eq!(
            Matrix::new(2, 3, vec![0i8; 5]),
            Err(ShapeError::DataLength {
                rows: 2,
                cols: 3,
                len: 5
            })
        );
        assert!(Matrix::new(usize::MAX, 2, vec![0i8; 2]).is_err());
        assert!(Matrix::<i8>::new(0, 5, vec![]).is_ok());
    }

    #[test]
    fn accessors_are_row_major() {
        let mut m = Matrix::new(2, 3, vec![1, 2, 3, 4, 5, 6]).expect("valid shape");
        assert_eq!(m.get(1, 0), Some(&4));
        assert_eq!(m.get(2, 0), None);
        assert_eq!(m.get(0, 3), None);
        assert_eq!(m.row(1), &[4, 5, 6]);
        assert!(m.row(2).is_empty());
        assert!(m.row(usize::MAX).is_empty());
        assert_eq!(m.set(0, 2, -1), Ok(()));
        assert_eq!(m.data(), &[1, 2, -1, 4, 5, 6]);
        assert_eq!(
            m.set(0, 3, 0),
            Err(ShapeError::OutOfRange {
                row: 0,
                col: 3,
                rows: 2,
                cols: 3
            })
        );
        assert_eq!(m.into_data(), vec![1, 2, -1, 4, 5, 6]);
    }

    #[test]
    fn transpose_and_zeros() {
        let m = Matrix::new(2, 3, vec![1, 2, 3, 4, 5, 6]).expect("valid shape");
        let t = m.transpose();
        assert_eq!((t.rows(), t.cols()), (3, 2));
        assert_eq!(t.data(), &[1, 4, 2, 5, 3, 6]);
        assert_eq!(t.transpose(), m);
        assert_eq!(Matrix::<i64>::zeros(2, 2).data(), &[0; 4]);
    }
}
