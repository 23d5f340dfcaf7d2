/** What a sandbox thread runs (src/sandbox/thread.ts): each task takes tenant input and may run away. */
import { dataProblems, schemaProblem } from '../jsonSchema.ts';
import { evaluateFilters, type FilterInput } from '../transform/filter.ts';
import { evaluateTransform, type TransformDefinition, type TransformInput } from '../transform/index.ts';

export const sandboxTasks = {
  transform: ({ definition, input }: { definition: TransformDefinition; input: TransformInput }, evaluating: () => void) => evaluateTransform(definition, input, evaluating),
  filters: ({ sources, input }: { sources: string[]; input: FilterInput }, evaluating: () => void) => evaluateFilters(sources, input, evaluating),
  schemaProblem: (schemaText: string) => schemaProblem(schemaText),
  dataProblems: ({ schemaText, data, eventType }: { schemaText: string; data: unknown; eventType: string }, evaluating: () => void) =>
    dataProblems(schemaText, data, eventType, evaluating),
};

export type SandboxTasks = typeof sandboxTasks;

