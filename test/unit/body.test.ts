import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonDepth } from '../../src/api/body.ts';

test('JSON depth counts nested arrays and objects, not brackets inside strings', () => {
  const depth = (text: string) => jsonDepth(Buffer.from(text));
  assert.equal(depth('"plain"'), 0);
  assert.equal(depth('{}'), 1);
  assert.equal(depth('{"a":[{"b":[]}],"c":{}}'), 4);
  assert.equal(depth('{"s":"[[[{{{"}'), 1);
  assert.equal(depth('{"s":"\\"[[[","t":[1]}'), 2);
  assert.equal(depth('[[[[[[[[[[]]]]]]]]]]'), 10);
});
