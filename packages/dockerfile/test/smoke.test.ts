import * as df from '@kiln/dockerfile';
import { expect, test } from 'vitest';

test('module loads', () => {
  expect(typeof df).toBe('object');
});
