// The desktop window's bridge: exposes the contract as window.keepsake through contextBridge,
// and nothing else (no ipcRenderer, no general messaging). Commands go to main/app/ipc.ts,
// which checks the sender frame and validates every argument; events come back on one
// channel and are fanned out to listeners here.
// Sandboxed preloads cannot require sibling files: scripts/build-preload.mjs bundles this
// file (and ./channels.ts) into dist/preload/preload.cjs.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  Envelope,
  EventName,
  EventPayload,
  KeepsakeBridge,
} from '../common/contract.js';
import { eventChannel, invokeChannel, pickFolderChannel } from './channels.js';

type Listener = (payload: unknown) => void;
const listeners = new Map<string, Set<Listener>>();

ipcRenderer.on(eventChannel, (_event: IpcRendererEvent, name: unknown, payload: unknown) => {
  if (typeof name !== 'string') return;
  for (const listener of listeners.get(name) ?? []) listener(payload);
});

const bridge: KeepsakeBridge = {
  invoke<K extends CommandName>(
    command: K,
    args: CommandArgs<K>,
  ): Promise<Envelope<CommandResult<K>>> {
    return ipcRenderer.invoke(invokeChannel, command, args) as Promise<Envelope<CommandResult<K>>>;
  },
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void {
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    // A fresh function per subscription, so the renderer cannot pass one in twice to confuse us.
    const wrapped: Listener = (payload) => listener(payload as EventPayload<K>);
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  },
  pickFolder(): Promise<string | null> {
    return ipcRenderer.invoke(pickFolderChannel) as Promise<string | null>;
  },
};

contextBridge.exposeInMainWorld('keepsake', bridge);
