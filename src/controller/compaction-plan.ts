/**
 * The controller's plan for compaction: which segment to free next and how (pure functions of
 * a space report, so the policy can be read and tested apart from the I/O that carries it out
 * in store.ts).
 */
import type { SpaceReport } from '../storage/lun.js';

export const PAGE_SET_MESSAGES = 1;
/** The largest live share of a segment that compaction moves out (the core's own limit). */
export const LIVE_RATIO_CEILING = 0.9;

/** What one compaction aims at. */
export interface CompactionGoal {
  /** Only segments whose live bytes are at most this share of their written bytes. */
  liveRatioMax: number;
  /**
   * Driven by free space: stop once this many segments beyond the reserve are free or being
   * freed, and move records only where that frees a segment now (see nextStep).
   */
  spareSegments: number | undefined;
}

/** What a compaction does next: the core compacts the sparsest segment, or one is evacuated. */
export type CompactionStep =
  | { kind: 'core'; liveRatioMax: number }
  | { kind: 'evacuate'; segment: number };

export type SegmentSpace = SpaceReport['segments'][number];

/** Sizes the plan needs from the LUN's geometry. */
export interface PlanSizes {
  /** Room a chunk needs beyond its records: its header and the padding to a block. */
  slackBytes: number;
  /** Bytes of records one evacuation append carries. */
  evacuationBatchBytes: number;
}

export function liveRatio(segment: SegmentSpace): number {
  return segment.liveBytes / segment.writtenBytes;
}

/** Whether appends of `pieces` bytes, in order, fit in `roomBytes` and `segments` new segments. */
function fits(pieces: readonly number[], roomBytes: number, segments: number,
  segmentBytes: number): boolean {
  let room = roomBytes;
  let left = segments;
  for (const bytes of pieces) {
    if (bytes > room) {
      if (left-- <= 0) return false;
      room = segmentBytes;
    }
    room -= bytes;
  }
  return true;
}

/**
 * The next step of a compaction, or undefined when there is none or the goal is reached.
 * The core compacts the sparsest segment first. A segment holding releases of records in
 * older segments is freed only after them (docs/FORMAT.md, "Reclaiming space"); when
 * consumers take messages out of order nearly every segment holds such releases, so space
 * comes back oldest segment first, and emptying sparse younger segments frees nothing until
 * then. So, driven by free space, compaction frees a segment that depends on no older one:
 * through the core when it is also the sparsest (or the sparser ones are cheap to move
 * first), else by evacuating its messages. Moved records must fit in the rest of the tail
 * and the free segments: the core may use the reserve but one segment, kept for releases;
 * evacuation appends data, which the reserve does not take.
 */
export function nextStep(space: SpaceReport, goal: CompactionGoal,
evacuated: ReadonlySet<number>, sizes: PlanSizes): CompactionStep | undefined {
  const freeing = space.segments.filter((segment) => segment.freeing).length;
  const spare = space.freeSegments - space.reservedSegments;
  if (goal.spareSegments !== undefined && spare + freeing >= goal.spareSegments) return undefined;
  const candidates = space.segments
    .filter((segment) => !segment.tail && !segment.freeing && segment.liveRecords > 0 &&
      liveRatio(segment) <= goal.liveRatioMax)
    .sort((a, b) => liveRatio(a) - liveRatio(b) || a.index - b.index);
  const tail = space.segments.find((segment) => segment.tail &&
    segment.pageSet === PAGE_SET_MESSAGES);
  const roomBytes = tail === undefined ? 0 : space.segmentBytes - tail.writtenBytes;
  const core = (count: number) => count >= 1 && count <= candidates.length &&
    fits(candidates.slice(0, count).map((segment) => segment.liveBytes + sizes.slackBytes),
      roomBytes, space.freeSegments - 1, space.segmentBytes);
  const first = candidates[0];
  const step: CompactionStep | undefined = first === undefined ? undefined
    : { kind: 'core', liveRatioMax: liveRatio(first) };
  if (goal.spareSegments === undefined) return core(1) ? step : undefined;
  if (first?.dependsOn === 0 && core(1)) return step;
  const target = evacuationTarget(space, roomBytes, evacuated, sizes);
  if (target !== undefined) return { kind: 'evacuate', segment: target };
  const unblocked = candidates.findIndex((segment) => segment.dependsOn === 0);
  return core(unblocked + 1) ? step : undefined;
}

/**
 * The segment of messages to evacuate: one that depends on no older segment, with the
 * fewest live bytes (a segment that the moves of compaction sealed part-written counts with
 * its unused rest, which the core's live share does not see), if they fit in the rest of
 * the tail and the free segments beyond the reserve.
 */
function evacuationTarget(space: SpaceReport, roomBytes: number,
evacuated: ReadonlySet<number>, sizes: PlanSizes): number | undefined {
  const target = space.segments
    .filter((segment) => segment.pageSet === PAGE_SET_MESSAGES && !segment.tail &&
      !segment.freeing && segment.liveRecords > 0 && segment.dependsOn === 0 &&
      segment.liveBytes <= LIVE_RATIO_CEILING * space.segmentBytes &&
      !evacuated.has(segment.index))
    .sort((a, b) => a.liveBytes - b.liveBytes)[0];
  if (target === undefined) return undefined;
  const batchBytes = sizes.evacuationBatchBytes;
  const pieces = Array.from({ length: Math.ceil(target.liveBytes / batchBytes) },
    () => batchBytes + sizes.slackBytes);
  const spare = space.freeSegments - space.reservedSegments;
  return fits(pieces, roomBytes, spare, space.segmentBytes) ? target.index : undefined;
}
