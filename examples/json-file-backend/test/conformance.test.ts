import { suite } from "@effect-persist/conformance"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as JsonFileBackend from "../src/JsonFileBackend.ts"

const dir = mkdtempSync(join(tmpdir(), "json-file-backend-"))

suite("json-file", JsonFileBackend.layer({ filename: join(dir, "store.json") }))
