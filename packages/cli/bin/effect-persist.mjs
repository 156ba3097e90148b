#!/usr/bin/env node
// The package's source runs directly on Node >= 22.18 (type stripping);
// node:sqlite needs Node >= 22.13 in any case.
import "../src/main.ts"
