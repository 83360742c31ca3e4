/**
 * core: errors, the clock, hex ids and other small shared types. Imports nothing from Arca.
 */
export * from './errors.js'
export * from './clock.js'
export * from './hex.js'
export * from './span-arena.js'
